// Page chrome shared by all entity pages, and the keyboard contract of entity cards.
import { Icon } from './icon.js';

// Entity cards (\`.card.entity[tabindex]\`) open their dialog on click. Keyboard contract, installed once
// by the shell for every page: Enter or Space ON the card opens it (same as a click) and the keystroke
// is consumed there (preventDefault suppresses its keypress, so it can never reach, and submit, the
// form the dialog just focused); Enter/Space on a control INSIDE the card (Edit, Chat, Delete…) only
// activates that control — the card's own keydown handler never sees it.
const CONTROLS = new Set(['BUTTON', 'A', 'INPUT', 'SELECT', 'TEXTAREA', 'SUMMARY']);
export function installCardKeys(target = window) {
  const onKey = (e) => {
    if ((e.key !== 'Enter' && e.key !== ' ') || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (!(t instanceof Element)) return;
    const card = t.closest('.card.entity[tabindex]');
    if (!card) return;
    if (t === card) {
      e.preventDefault();
      e.stopPropagation();
      if (!e.repeat) card.click();
    } else if (CONTROLS.has(t.tagName)) {
      e.stopPropagation(); // native activation (the default action) still happens
    }
  };
  target.addEventListener('keydown', onKey, true);
  return () => target.removeEventListener('keydown', onKey, true);
}

export const PageHeader = {
  name: 'PageHeader',
  components: { Icon },
  // shown: how many items the filter leaves; with a filter, nothing left says so (an empty grid
  // under "Agents 50" read as if the agents were gone) and offers to clear it
  props: { title: String, subtitle: String, count: Number, newLabel: String, filter: String, icon: String, shown: Number },
  emits: ['new', 'update:filter', 'refresh'],
  template: `
  <div class="page-head">
    <div class="page-title">
      <h1><Icon v-if="icon" :name="icon" :size="22"/> {{ title }} <span class="count" v-if="count != null">{{ count }}</span></h1>
      <p class="muted" v-if="subtitle">{{ subtitle }}</p>
    </div>
    <div class="page-actions">
      <label class="filter" v-if="filter != null">
        <Icon name="search" :size="14"/>
        <input type="search" :value="filter" placeholder="Filter" aria-label="Filter"
          @input="$emit('update:filter', $event.target.value)">
      </label>
      <slot/>
      <button class="btn" type="button" v-if="newLabel" @click="$emit('new')" title="New (n)">
        <Icon name="plus" :size="16"/> {{ newLabel }}</button>
    </div>
  </div>
  <p class="muted no-match" v-if="filter && filter.trim() && shown === 0 && count" role="status" data-testid="no-match">
    No {{ title.toLowerCase() }} match “{{ filter.trim() }}”.
    <button class="btn ghost sm" type="button" @click="$emit('update:filter', '')">Clear filter</button></p>`,
};

export const EmptyState = {
  name: 'EmptyState',
  components: { Icon },
  props: { icon: { default: 'plus' }, title: String, text: String, action: String },
  emits: ['action'],
  template: `
  <div class="empty">
    <div class="empty-icon"><Icon :name="icon" :size="28"/></div>
    <h3>{{ title }}</h3>
    <p class="muted" v-if="text">{{ text }}</p>
    <slot/>
    <button class="btn" type="button" v-if="action" @click="$emit('action')"><Icon name="plus" :size="16"/> {{ action }}</button>
  </div>`,
};

export const Skeleton = {
  name: 'Skeleton',
  props: { n: { default: 3 } },
  template: `<div class="grid"><div class="card skeleton" v-for="i in n" :key="i"><div></div><div></div><div></div></div></div>`,
};

// Busy indicator for buttons and waits: <button :disabled="busy"><Spinner v-if="busy"/> Testing…</button>.
// Inside a control whose text already says what is happening it is decoration (aria-hidden); with a
// label it announces itself as a status.
export const Spinner = {
  name: 'Spinner',
  props: { label: String, size: { type: [Number, String], default: 14 } },
  template: `<span class="spinner" :style="{width: size + 'px', height: size + 'px'}" :role="label ? 'status' : null"
    :aria-label="label || null" :aria-hidden="label ? null : 'true'" data-testid="spinner"></span>`,
};

export const HealthDot = {
  name: 'HealthDot',
  props: { status: String, title: String },
  template: `<span class="dot" role="img" :class="status || 'unknown'" :title="title || status || 'unknown'" :aria-label="'health: ' + (status || 'unknown')"></span>`,
};

export const ErrorBanner = {
  name: 'ErrorBanner',
  components: { Icon },
  props: { error: String },
  template: `<div class="banner error" v-if="error" role="alert"><Icon name="alert" :size="16"/> <span>{{ error }}</span></div>`,
};

// Matches a case-insensitive substring in any of the given fields.
// A list page's filter: `q` in any of the item's `fields` or in `extra` (what its card shows from
// elsewhere: an agent's backend name and model, a flow's member agents). Tags read as the card
// shows them (#research), so "#research" and "research" both find it.
export function matches(item, q, fields = ['name', 'description'], extra = []) {
  const s = (q || '').trim().toLowerCase();
  if (!s) return true;
  const text = (f) => {
    const v = item?.[f];
    return Array.isArray(v) ? v.map((x) => (f === 'tags' ? '#' : '') + x).join(' ') : String(v ?? '');
  };
  return [...fields.map(text), ...extra.map((x) => String(x ?? ''))].some((t) => t.toLowerCase().includes(s));
}

export function clone(x) { return JSON.parse(JSON.stringify(x ?? null)); }

export async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch {
    const ta = document.createElement('textarea');
    ta.value = text; document.body.appendChild(ta); ta.select();
    const ok = document.execCommand('copy'); ta.remove(); return ok;
  }
}
