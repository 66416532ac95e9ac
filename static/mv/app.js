// The one thing htmx does not do for us: the Regenerate button says what it will do.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.classList || !box.classList.contains("lipsync-toggle")) return;
  const button = box.form && box.form.querySelector(".regen-button");
  if (button) button.textContent = box.checked ? button.dataset.lipsync : button.dataset.plain;
});
