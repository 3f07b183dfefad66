// Review queue keyboard shortcuts: A accept, R reject, F then a category's key fix with that label (the keys of
// the labeling page, keys.js, shown in the select; a key alone does nothing: a stray key must not relabel), Escape leaves fix mode, Z zooms the image, J/K move between items.
// Every action is a plain form in the page; this only submits them.
// Box projects: each item shows a box editor (box_editor.js) started from the consensus boxes; the keys it knows
// (digits relabel, Tab, arrows, Delete, Ctrl+Z) go to the current item's editor first, and F saves its boxes.
import { gettext } from "../annotate/i18n.js";
import { createBoxEditor } from "./box_editor.js";
import { categoryKeys } from "./keys.js";

// Each fix select shows the labeling page's key before each option: "3. three" would lie where 3 picks "three"
// on the labeling page, so the numbers are replaced by the keys.
for (const select of document.querySelectorAll("select[data-action=fix-label]")) {
  const names = Array.from(select.options, (o) => o.dataset.name || o.textContent.replace(/^\d+\.\s*/, ""));
  const keys = categoryKeys(names);
  Array.from(select.options).forEach((o, i) => {
    o.dataset.key = keys[i] || "";
    o.textContent = keys[i] ? `${keys[i]}. ${names[i]}` : names[i];
  });
}

const list = document.getElementById("review-list");
const items = () => Array.from(list ? list.querySelectorAll("[data-testid=review-item]") : []);
let index = 0;
let fixing = false; // set by F; digits fix only then

function current() {
  return items()[index] || null;
}

const editors = new Map(); // review item element -> its box editor
const editorConfig = document.getElementById("review-box-editor");
if (editorConfig) {
  const { detect, categories } = JSON.parse(editorConfig.textContent);
  for (const holder of document.querySelectorAll("[data-testid=review-boxes]")) {
    const article = holder.closest("[data-testid=review-item]");
    const field = article.querySelector("input[data-action=fix-boxes]");
    const editor = createBoxEditor({
      width: Number(holder.dataset.width), height: Number(holder.dataset.height), imageUrl: holder.dataset.imageUrl,
      categories, detect, initial: JSON.parse(holder.dataset.boxes || "[]"),
      onChange: (boxes) => { field.value = JSON.stringify(boxes); },
      label: gettext("The consensus boxes: drag to add, move or resize"),
    });
    field.value = JSON.stringify(editor.value());
    holder.replaceChildren(editor.element);
    editors.set(article, editor);
  }
}

function select(i, scroll = true) {
  const all = items();
  if (!all.length) return;
  index = Math.max(0, Math.min(i, all.length - 1));
  all.forEach((el, j) => el.classList.toggle("current", j === index));
  if (scroll) all[index].scrollIntoView({ block: "nearest" });
}

function submit(action, label) {
  const item = current();
  if (!item) return;
  const button = item.querySelector(`button[data-action=${action}]`);
  if (!button) return;
  if (label !== undefined) {
    const select = item.querySelector("select[data-action=fix-label]");
    if (!select || label >= select.options.length) return;
    select.selectedIndex = label;
  }
  item.classList.add("done");
  button.form.requestSubmit(button);
}

document.addEventListener("keydown", (event) => {
  const editor = editors.get(current());
  if (editor && !/^(input|textarea|select)$/i.test(event.target.tagName || "") && editor.onKey(event)) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const tag = (event.target.tagName || "").toLowerCase();
  const inSelect = tag === "select";
  if ((tag === "input" || tag === "textarea") && event.key !== "Escape") return;
  const key = event.key.toLowerCase();
  const fixSelect = current() && current().querySelector("select[data-action=fix-label]");
  const fixIndex = fixSelect ? Array.from(fixSelect.options).findIndex((o) => o.dataset.key === key) : -1;
  if (fixing && fixIndex >= 0) {
    event.preventDefault();
    submit("fix", fixIndex);
    fixing = false;
  } else if (/^[0-9]$/.test(key)) {
    event.preventDefault(); // a digit outside fix mode does nothing
    fixing = false;
  } else if (key === "escape") {
    fixing = false;
    if (inSelect) event.target.blur();
  } else if (inSelect && key === "enter") {
    event.preventDefault();
    submit("fix");
  } else if (inSelect) {
    return;
  } else if (key === "a") {
    event.preventDefault();
    submit("accept");
  } else if (key === "r") {
    event.preventDefault();
    submit("reject");
  } else if (key === "z") {
    event.preventDefault();
    current()?.querySelector(".review-image")?.classList.toggle("zoomed");
  } else if (key === "f" && editor) {
    event.preventDefault();
    submit("fix"); // the corrected boxes are in the form already
  } else if (key === "f") {
    event.preventDefault();
    fixing = true;
    const picker = current() && current().querySelector("select[data-action=fix-label]");
    if (picker) picker.focus();
  } else if (key === "j") {
    select(index + 1);
  } else if (key === "k") {
    select(index - 1);
  }
});

list?.addEventListener("click", (event) => {
  if (event.target.classList.contains("review-image")) event.target.classList.toggle("zoomed");
});

list?.addEventListener("focusin", (event) => {
  const item = event.target.closest("[data-testid=review-item]");
  if (item) select(items().indexOf(item));
});

// Drawing on an item's boxes makes it the current item (the editor keeps the focus where it was).
list?.addEventListener("pointerdown", (event) => {
  const item = event.target.closest && event.target.closest("[data-testid=review-item]");
  if (item) select(items().indexOf(item), false); // never scroll under the pointer while it draws
});
