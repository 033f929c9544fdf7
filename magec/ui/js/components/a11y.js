// Accessible names for form controls, for every page and dialog at once.
//
// Pages lay a field out as <div class="field"><label>Tags</label><ChipsInput/></div> or put a textarea
// under <details><summary>System prompt</summary>: the visible caption is there, but not tied to the
// control (a composite component has no single element a `for` could point at), so a screen reader
// announces an unnamed edit box. watchLabels() ties each unnamed control to the caption of its field
// with aria-labelledby — the control's own label, aria-label or aria-labelledby always wins.
let seq = 0;
const CONTROLS = 'input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea';

function caption(el) {
  const field = el.closest('.field');
  if (field) {
    const label = field.querySelector(':scope > label, :scope > .label');
    if (label && !label.contains(el) && !label.htmlFor) return label;
    if (label && label.htmlFor && !document.getElementById(label.htmlFor)) return label;
  }
  const details = el.closest('details');
  const summary = details && details.querySelector(':scope > summary');
  return summary && !summary.contains(el) ? summary : null;
}

export function labelUnlabelled(root) {
  for (const el of root.querySelectorAll(CONTROLS)) {
    if ((el.labels && el.labels.length) || el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby')) continue;
    const cap = caption(el);
    if (!cap) continue;
    if (!cap.id) cap.id = `cap-${++seq}`;
    el.setAttribute('aria-labelledby', cap.id);
  }
}

// Label what is there now and whatever renders later (pages, dialogs, rows added in a form).
export function watchLabels(root) {
  let pending = false;
  const run = () => { pending = false; labelUnlabelled(root); };
  const mo = new MutationObserver(() => { if (!pending) { pending = true; queueMicrotask(run); } });
  mo.observe(root, { childList: true, subtree: true });
  run();
  return () => mo.disconnect();
}
