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
  if (!field) return;
  field.value = Math.max(0, seconds).toFixed(1);
  field.dispatchEvent(new Event("change", { bubbles: true }));
});

// The chosen part of the song (start..end) highlighted over the waveform, following the fields.
function showSongRange() {
  const picture = document.querySelector(".waveform-pick");
  const mark = document.querySelector(".song-range-mark");
  if (!picture || !mark) return;
  const duration = Number(picture.dataset.duration) || 0;
  const startField = document.getElementById("id_audio_start");
  const endField = document.getElementById("id_song_end");
  const start = Math.max(0, Number(startField && startField.value) || 0);
  const endValue = endField && endField.value !== "" ? Number(endField.value) : duration;
  const end = Math.min(duration, Number.isFinite(endValue) ? endValue : duration);
  if (!duration || end <= start) { mark.setAttribute("hidden", ""); return; }
  mark.setAttribute("x", `${(start / duration) * 100}%`);
  mark.setAttribute("width", `${((end - start) / duration) * 100}%`);
  mark.removeAttribute("hidden");
}
["input", "change"].forEach((name) => document.addEventListener(name, (event) => {
  if (event.target.id === "id_audio_start" || event.target.id === "id_song_end") showSongRange();
}));
document.addEventListener("DOMContentLoaded", showSongRange);
document.addEventListener("htmx:afterSettle", (event) => {
  showSongRange();
  // A song chosen or dropped changes the plan, so the estimate asks again.
  const form = document.getElementById("create-form");
  if (form && event.detail.target && event.detail.target.id === "music-source") form.dispatchEvent(new Event("change"));
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

// A timeline edit keeps your place: the edited card stays where it was on the screen and the
// focus stays on the control that was used (or, when that control is gone, the card's menu).
// The answer opens the edited card's menu; a menu closed while its edit was on its way stays
// closed (unless the edit was refused: the reason is shown in it).
let editPlace = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  const control = event.detail.elt;
  if (!control.closest || control.id === "banner" || !control.closest(".scene-edit, #banner")) return;  // not the banner's own ask
  const card = control.closest(".scene-card, #banner");
  editPlace = { top: card.getBoundingClientRect().top, control: control.id || "",
                menu: control.closest("details.scene-edit"), closed: false };
});
document.addEventListener("toggle", (event) => {
  if (editPlace && event.target === editPlace.menu) editPlace.closed = !editPlace.menu.open;
}, true);
document.addEventListener("studio-edited", (event) => {
  const place = editPlace;
  editPlace = null;
  const card = event.detail.scene && document.getElementById(`scene-${event.detail.scene}`);
  if (!card) return;
  window.scrollBy(0, card.getBoundingClientRect().top - (place ? place.top : 16));
  const menu = card.querySelector("details.scene-edit");
  const closed = Boolean(place && place.closed && menu && !menu.querySelector("#edit-error"));  // a refusal is shown
  if (closed) menu.open = false;
  const control = (place && !closed && place.control && document.getElementById(place.control))
    || card.querySelector(".scene-edit > summary");
  if (control && card.contains(control) && document.activeElement !== control) control.focus({ preventScroll: true });
});

// A menu that floats over the page (a scene's Edit timeline on a wide screen, a project's
// actions in the list) closes on a click that began outside it (a text selection dragged out
// of its inputs does not count), and on Escape, the focus back on its button. A menu laid out
// in the page (phones) stays open on an outside click: closing it would move what is under
// the pointer; Escape closes it when the focus is in it.
function floats(menu) {
  const body = menu.querySelector(".menu-body");
  return body && getComputedStyle(body).position === "absolute";
}
let pressedOn = null;
document.addEventListener("pointerdown", (event) => { pressedOn = event.target; }, true);
document.addEventListener("click", (event) => {
  const target = pressedOn || event.target;
  pressedOn = null;
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    if (!menu.contains(target) && floats(menu)) menu.open = false;
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.isComposing || event.defaultPrevented) return;
  const focused = document.activeElement && document.activeElement.closest
    && document.activeElement.closest("details.menu[open]");
  const menus = focused ? [focused] : [...document.querySelectorAll("details.menu[open]")].filter(floats);
  menus.forEach((menu) => { menu.open = false; });
  if (focused) focused.querySelector("summary").focus();
});
