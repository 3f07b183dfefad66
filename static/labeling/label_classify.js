// classify: one image, pick one of K categories, "/" focuses the search box that filters a large K.
// Keys (each button shows its key, keys.js): 1-9 pick the first nine categories shown and 0 the tenth, like the
// digit row of a keyboard; categories named by digits ("zero".."nine") get their own digit instead. N is
// none/unsure (and so is 0 when no category has it). Picking submits. Submit or Enter with nothing picked says so instead of doing nothing.

import { gettext } from "../annotate/i18n.js";
import { categoryKeys, zeroTaken } from "./keys.js";

export const imageUrl = (item) => item.image_url;

const NONE = { id: null, name: gettext("None / unsure") };

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
    el("img", { src: item.image_url, alt: gettext("The image to classify"), className: "classify-image" }),
  ]);
  const search = el("input", { type: "search", id: "classify-search", placeholder: gettext("Search categories…"), autocomplete: "off" });
  const searchLabel = el("label", { htmlFor: "classify-search", className: "visually-hidden", textContent: gettext("Search categories") });
  const list = el("div", { className: "classify-list" });
  list.setAttribute("role", "group");
  list.setAttribute("aria-label", gettext("Categories"));
  const hint = el("p", { className: "classify-hint", hidden: true, textContent: gettext("Pick a category first (or None / unsure).") });
  hint.setAttribute("role", "alert");
  hint.dataset.testid = "classify-hint";
  let shown = [];
  let keys = [];
  const keyOf = (i) => keys[i] || null;
  const zeroIsNone = () => !zeroTaken(keys);

  function choose(category) {
    picked = category;
    ctx.submit();
  }

  function render() {
    const q = search.value.trim().toLowerCase();
    shown = (q ? all.filter((c) => c.name.toLowerCase().includes(q)) : all).slice(0, 60);
    keys = categoryKeys(shown.map((c) => c.name));
    const buttons = shown.map((c, i) => {
      const b = el("button", { type: "button", className: "secondary choice" });
      b.dataset.categoryId = c.id;
      if (keyOf(i)) b.append(el("kbd", { textContent: keyOf(i) }), " ");
      b.append(c.name);
      if (c.definition) b.title = c.definition;
      b.addEventListener("click", () => choose(c));
      return b;
    });
    const noneKey = zeroIsNone() ? "0" : "N";
    const none = el("button", { type: "button", className: "secondary choice none" }, [el("kbd", { textContent: noneKey }), " ", NONE.name]);
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
  const controls = el("div", { className: "classify-controls" }, all.length > 10 ? [searchLabel, search, list, hint] : [list, hint]);
  root.replaceChildren(el("div", { className: "classify" }, [figure, controls]));
  root.focus();

  function onKey(event) {
    if (event.target === search || event.ctrlKey) return event.target === search;
    const at = keys.indexOf(event.key.toLowerCase());
    if (at >= 0 && shown[at]) {
      event.preventDefault();
      choose(shown[at]);
      return true;
    }
    if (/^[1-9]$/.test(event.key)) return true; // a digit with no category: nothing
    if (event.key === "0" || event.key === "n" || event.key === "N") {
      event.preventDefault();
      choose(NONE);
      return true;
    }
    if (event.key === "/" && all.length > 10) {
      event.preventDefault();
      search.focus();
      return true;
    }
    if (event.key === "Enter" && !picked) {
      event.preventDefault();
      hint.hidden = false; // nothing picked: say so (the page's submit would do nothing)
      return true;
    }
    return false;
  }

  return {
    onKey,
    answers: () => {
      if (!picked) {
        hint.hidden = false;
        return null;
      }
      return [{ item_id: item.id, answer: { category: picked.id } }];
    },
    destroy: () => root.replaceChildren(),
  };
}
