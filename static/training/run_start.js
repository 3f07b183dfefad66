// Refill the hyper-parameters with the chosen architecture's defaults (data from json_script).
const defaults = JSON.parse(document.getElementById("arch-defaults").textContent);
const form = document.querySelector("[data-testid=start-form]");
const arch = form.querySelector("[name=architecture]");
arch.addEventListener("change", () => {
  const values = defaults[arch.value] || {};
  for (const [name, value] of Object.entries(values)) {
    const field = form.querySelector(`[name=${name}]`);
    if (field) field.value = value;
  }
});
