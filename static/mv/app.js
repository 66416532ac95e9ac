// The one thing htmx does not do for us: the Regenerate button says what it will do.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.classList || !box.classList.contains("lipsync-toggle")) return;
  const button = box.form && box.form.querySelector(".regen-button");
  if (button) button.textContent = box.checked ? button.dataset.lipsync : button.dataset.plain;
});

// Enter in the song URL field downloads the song instead of submitting the whole form.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !event.target || event.target.id !== "id_url") return;
  event.preventDefault();
  const button = document.getElementById("audio-url-download");
  if (button) button.click();
});
