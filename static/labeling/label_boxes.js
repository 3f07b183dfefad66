// boxes: draw axis-aligned boxes on the image (the editor: box_editor.js). Detection projects (box_mode detect)
// give each box a category: 1-9 and 0 (the tenth) pick it before drawing, or relabel the selected box.

import { fmt, gettext } from "../annotate/i18n.js";
import { createBoxEditor } from "./box_editor.js";

export const imageUrl = (item) => item.image_url;

export function mount(root, items, batch, ctx) {
  const item = items[0];
  const detect = batch.box_mode === "detect";
  const categories = batch.categories || [];
  const editor = createBoxEditor({ width: item.width, height: item.height, imageUrl: item.image_url, categories, detect });
  const names = categories.map((c) => c.name).join(", ");
  const head = document.createElement("h2");
  if (detect) head.textContent = gettext("Draw a box around every object of these categories; pick the category by its key");
  else head.textContent = names ? fmt(gettext("Draw a box around each: %(names)s"), { names }) : gettext("Draw a box around each object");
  root.replaceChildren(head, editor.element);
  root.focus();
  return {
    onKey: editor.onKey,
    answers: () => [{ item_id: item.id, answer: { boxes: editor.value() } }],
    destroy: () => root.replaceChildren(),
  };
}
