// Refill the hyper-parameters with the chosen architecture's defaults (data from json_script); a pretrained
// architecture has its own ("<arch>+pretrained": probe epochs, fine-tune epochs).
const defaults = JSON.parse(document.getElementById("arch-defaults").textContent);
const form = document.querySelector("[data-testid=start-form]");
const arch = form.querySelector("[name=architecture]");
const pretrained = form.querySelector("[name=pretrained]");
function refill() {
  const key = pretrained && pretrained.checked ? `${arch.value}+pretrained` : arch.value;
  const values = defaults[key] || defaults[arch.value] || {};
  for (const [name, value] of Object.entries(values)) {
    const field = form.querySelector(`[name=${name}]`);
    if (!field || field === pretrained) continue;
    field.value = value;
  }
}
arch.addEventListener("change", refill);
if (pretrained) pretrained.addEventListener("change", refill);
