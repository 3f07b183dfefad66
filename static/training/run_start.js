// Refill the hyper-parameters with the chosen architecture's defaults (data from json_script); a pretrained
// architecture has its own ("<arch>+pretrained": probe epochs, fine-tune epochs). A value the researcher typed
// is never overwritten: only the fields nobody has touched follow the architecture.
const defaults = JSON.parse(document.getElementById("arch-defaults").textContent);
const form = document.querySelector("[data-testid=start-form]");
const arch = form.querySelector("[name=architecture]");
const pretrained = form.querySelector("[name=pretrained]");
function refill() {
  const key = pretrained && pretrained.checked ? `${arch.value}+pretrained` : arch.value;
  const values = defaults[key] || defaults[arch.value] || {};
  for (const [name, value] of Object.entries(values)) {
    const field = form.querySelector(`[name=${name}]`);
    if (!field || field === pretrained || field.dataset.typed) continue;
    field.value = value;
  }
}
form.addEventListener("input", (event) => {
  const field = event.target;
  if (field !== arch && field !== pretrained && field.name) field.dataset.typed = "1";
});
arch.addEventListener("change", refill);
if (pretrained) pretrained.addEventListener("change", refill);
