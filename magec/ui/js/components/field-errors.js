// Server-side field errors shown AT the field. A 4xx from the Admin API naming a `field`
// (`{error, code, field: "llm.backend"}`) is announced by api.js as a `magec:field-error` event; the
// open dialog (or, without one, the page) finds the control that edits that field, puts the message
// right under it, marks it aria-invalid, opens its <details> section and focuses it. Typing in the
// control clears its message. Works for every dialog without page code: the control is found by
// name/data-field, else by its visible label matched against the field's last path segment
// (`llm.backend` → "Backend", preferring the section captioned "LLM").
const CONTROLS = 'input:not([type=hidden]), select, textarea';
const human = (p) => String(p).replace(/\[\d*\]/g, '').replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]/g, ' ').trim().toLowerCase();

function labelText(el) {
  const parts = [];
  if (el.labels) for (const l of el.labels) parts.push(l.textContent);
  const by = el.getAttribute('aria-labelledby');
  if (by) for (const id of by.split(/\s+/)) parts.push(document.getElementById(id)?.textContent || '');
  parts.push(el.getAttribute('aria-label') || '', el.getAttribute('placeholder') || '');
  return parts.join(' ').replace(/\*/g, '').trim().toLowerCase();
}

export function controlFor(root, field) {
  if (!root || !field) return null;
  const esc = CSS.escape(field);
  const direct = root.querySelector(`[name="${esc}"], [data-field="${esc}"]`);
  if (direct) return direct.matches(CONTROLS) ? direct : direct.querySelector(CONTROLS) || direct;
  const parts = String(field).split('.').filter(Boolean);
  const last = human(parts[parts.length - 1]);
  const section = parts.length > 1 ? human(parts[0]) : '';
  let best = null; let bestScore = 0;
  for (const el of root.querySelectorAll(CONTROLS)) {
    if (!el.getClientRects().length && !el.closest('details:not([open])')) continue;
    const text = labelText(el);
    let score = 0;
    if (text === last || text.startsWith(last + ' ') || text.startsWith(last)) score += 3;
    else if (text.includes(last)) score += 1;
    if (!score) continue;
    const sum = el.closest('details')?.querySelector(':scope > summary')?.textContent.toLowerCase() || '';
    const fs = el.closest('fieldset')?.querySelector(':scope > legend')?.textContent.toLowerCase() || '';
    if (section && (sum.includes(section) || fs.includes(section))) score += 2;
    if (score > bestScore) { best = el; bestScore = score; }
  }
  return best;
}

export function clearFieldErrors(root) {
  for (const p of root.querySelectorAll('[data-field-error]')) p.remove();
  for (const el of root.querySelectorAll('[aria-invalid="true"][data-field-error-for]')) {
    el.removeAttribute('aria-invalid'); el.removeAttribute('data-field-error-for');
  }
}

let seq = 0;
export function showFieldError(root, field, message) {
  const el = controlFor(root, field);
  if (!el) return false;
  clearFieldErrors(root);
  const host = el.closest('.field') || el.parentElement;
  // the page already renders its own message for this field: just focus the control
  if (host.querySelector('.field-error:not([data-field-error])')) { el.focus({ preventScroll: true }); return true; }
  const d = el.closest('details');
  if (d) d.open = true;
  const p = document.createElement('p');
  p.className = 'error-text small field-error';
  p.id = `ferr-${++seq}`;
  // not a second role=alert: the form's own error is announced; this copy is the focused
  // control's description (aria-describedby), read when focus lands on it
  p.dataset.fieldError = field;
  // the API's message leads with the JSON path ("config.cron.schedule: …") for the form's own error
  // line; under the field it is noise to a person: the words alone
  const lead = `${field}: `;
  p.textContent = String(message).startsWith(lead) ? String(message).slice(lead.length) : message;
  host.appendChild(p);
  el.setAttribute('aria-invalid', 'true');
  el.dataset.fieldErrorFor = field;
  el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), p.id].filter(Boolean).join(' '));
  el.addEventListener('input', () => { p.remove(); el.removeAttribute('aria-invalid'); }, { once: true });
  el.focus({ preventScroll: true });
  el.scrollIntoView({ block: 'center' });
  return true;
}

// The shell's listener: the topmost open dialog gets the error, else the page content.
export function installFieldErrors() {
  const on = (e) => {
    const { field, message } = e.detail || {};
    const dialogs = [...document.querySelectorAll('dialog[open]')];
    const root = dialogs[dialogs.length - 1] || document.querySelector('main.content');
    // the page's own error text renders on the next tick; the field message goes in after it
    setTimeout(() => showFieldError(root, field, message), 0);
  };
  window.addEventListener('magec:field-error', on);
  // the browser's generic "match the requested format": say what is allowed (the input's title)
  const invalid = (e) => {
    const el = e.target;
    if (el && el.validity && el.validity.patternMismatch && el.title) el.setCustomValidity(el.title);
  };
  const input = (e) => { if (e.target && e.target.setCustomValidity) e.target.setCustomValidity(''); };
  window.addEventListener('invalid', invalid, true);
  window.addEventListener('input', input, true);
}
