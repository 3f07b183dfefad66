// New-project form: the slug follows the name until someone types a slug; the box mode shows only for box
// projects (it means nothing for the others).

const form = document.querySelector("[data-testid=project-create-form]");
const name = form.querySelector("[name=name]");
const slug = form.querySelector("[name=slug]");
const taskType = form.querySelector("[name=task_type]");
const boxMode = form.querySelector("[name=box_mode]");

export function slugify(text) {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 100);
}

let slugTyped = slug.value !== "";
slug.addEventListener("input", () => {
  slugTyped = slug.value !== "";
});
name.addEventListener("input", () => {
  if (!slugTyped) slug.value = slugify(name.value);
});

function showBoxMode() {
  const row = boxMode.closest("div");
  row.hidden = taskType.value !== "boxes";
  row.style.display = row.hidden ? "none" : ""; // the form's grid CSS would show a [hidden] row
}
taskType.addEventListener("change", showBoxMode);
showBoxMode();
