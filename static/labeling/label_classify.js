// classify: one image, pick one of K categories. 1-9 pick (and submit), 0 or N = none/unsure,
// "/" focuses the search box that filters a large K.

export const imageUrl = (item) => item.image_url;

const NONE = { id: null, name: "None / unsure" };

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export function mount(root, items, batch, ctx) {
  const item = items[0];
  const all = batch.categories || [];
  let picked;
  const figure = el("figure", { className: "classify-figure" }, [
    el("img", { src: item.image_url, alt: "The image to classify", className: "classify-image" }),
  ]);
  const search = el("input", { type: "search", id: "classify-search", placeholder: "Search categories…", autocomplete: "off" });
  const searchLabel = el("label", { htmlFor: "classify-search", className: "visually-hidden", textContent: "Search categories" });
  const list = el("div", { className: "classify-list" });
  list.setAttribute("role", "group");
  list.setAttribute("aria-label", "Categories");
  let shown = [];

  function choose(category) {
    picked = category;
    ctx.submit();
  }

  function render() {
    const q = search.value.trim().toLowerCase();
    shown = (q ? all.filter((c) => c.name.toLowerCase().includes(q)) : all).slice(0, 60);
    const buttons = shown.map((c, i) => {
      const b = el("button", { type: "button", className: "secondary choice" });
      b.dataset.categoryId = c.id;
      if (i < 9) b.append(el("kbd", { textContent: String(i + 1) }), " ");
      b.append(c.name);
      if (c.definition) b.title = c.definition;
      b.addEventListener("click", () => choose(c));
      return b;
    });
    const none = el("button", { type: "button", className: "secondary choice none" }, [el("kbd", { textContent: "0" }), " ", NONE.name]);
    none.dataset.categoryId = "";
    none.addEventListener("click", () => choose(NONE));
    list.replaceChildren(...buttons, none);
  }

  search.addEventListener("input", render);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && shown.length) {
      event.preventDefault();
      event.stopPropagation();
      choose(shown[0]);
    } else if (event.key === "Escape") {
      search.blur();
    }
  });
  render();
  const controls = el("div", { className: "classify-controls" }, all.length > 9 ? [searchLabel, search, list] : [list]);
  root.replaceChildren(el("div", { className: "classify" }, [figure, controls]));
  root.focus();

  function onKey(event) {
    if (event.target === search || event.ctrlKey) return event.target === search;
    if (/^[1-9]$/.test(event.key)) {
      const c = shown[Number(event.key) - 1];
      if (c) {
        event.preventDefault();
        choose(c);
      }
      return true;
    }
    if (event.key === "0" || event.key === "n" || event.key === "N") {
      event.preventDefault();
      choose(NONE);
      return true;
    }
    if (event.key === "/" && all.length > 9) {
      event.preventDefault();
      search.focus();
      return true;
    }
    if (event.key === "Enter") return !picked; // nothing picked: Enter does nothing
    return false;
  }

  return {
    onKey,
    answers: () => (picked ? [{ item_id: item.id, answer: { category: picked.id } }] : null),
    destroy: () => root.replaceChildren(),
  };
}
