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

// A "with lipsync" box that starts ticked (a scene with lyrics) names its button too.
document.addEventListener("htmx:load", (event) => {
  event.target.querySelectorAll(".lipsync-toggle:checked").forEach((box) => {
    const button = box.form && box.form.querySelector(".regen-button");
    if (button) button.textContent = button.dataset.lipsync;
  });
});

// The song's waveform on the create page: a click sets the start, a shift-click the end.
document.addEventListener("click", (event) => {
  const picture = event.target;
  if (!picture.classList || !picture.classList.contains("waveform-pick")) return;
  const box = picture.getBoundingClientRect();
  const seconds = ((event.clientX - box.left) / box.width) * Number(picture.dataset.duration);
  const field = document.getElementById(event.shiftKey ? "id_song_end" : "id_audio_start");
  if (field) field.value = Math.max(0, seconds).toFixed(1);
});

// A scene's prompt shows three lines; Expand shows all of it (and back).
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button.expand");
  if (!button) return;
  const box = document.getElementById(button.dataset.expands);
  if (!box) return;
  const open = button.getAttribute("aria-expanded") !== "true";
  box.rows = open ? Math.max(6, box.value.split("\n").length + Math.ceil(box.value.length / 60)) : 3;
  button.setAttribute("aria-expanded", String(open));
  button.textContent = open ? "Collapse" : "Expand";
});
