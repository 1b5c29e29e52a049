// managed by exteri-mail: shows the address the typed names would give.
(function () {
  const preview = document.getElementById("preview");
  const first = document.getElementById("first_name");
  const last = document.getElementById("last_name");
  if (!preview || !first || !last) return;
  let timer = null;
  async function update() {
    if (!first.value.trim() || !last.value.trim()) { preview.textContent = "…"; return; }
    const query = new URLSearchParams({ first: first.value, last: last.value });
    const answer = await fetch(preview.dataset.url + "?" + query, { credentials: "same-origin" });
    const data = await answer.json();
    preview.textContent = data.address || data.error;
    preview.className = data.address ? "" : "problem";
  }
  for (const input of [first, last]) {
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 250); });
  }
})();
