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
  // sort: the card order (SORTS; v-model:sort, the page keeps it with sortable())
  props: { title: String, subtitle: String, count: Number, newLabel: String, filter: String, icon: String, shown: Number, sort: String },
  emits: ['new', 'update:filter', 'update:sort', 'refresh'],
  setup() { return { SORTS }; },
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
      <select class="sort" v-if="sort != null" :value="sort" aria-label="Sort" title="Sort" data-testid="sort"
        @change="$emit('update:sort', $event.target.value)">
        <option v-for="[v, label] in SORTS" :key="v" :value="v">{{ label }}</option>
      </select>
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

// Orders of the card lists: as created (the server's order), by name, most recently changed first
// (the Admin API's updatedAt). A page's choice is kept on this browser (localStorage).
export const SORTS = [['', 'Order created'], ['name', 'Name (A–Z)'], ['recent', 'Recently changed']];
const byName = (a, b) => String(a.name ?? '').localeCompare(String(b.name ?? ''), undefined, { sensitivity: 'base', numeric: true });
const changed = (x) => Date.parse(x.updatedAt || '') || 0;
export function sortItems(items, sort) {
  if (sort === 'name') return [...items].sort(byName);
  if (sort === 'recent') return [...items].sort((a, b) => changed(b) - changed(a) || byName(a, b));
  return items;
}

// Mixin of a card page: `sort` (kept per page in localStorage) and sorted(items).
export function sortable(page) {
  const key = `magec.sort|${page}`;
  return {
    data() {
      const saved = localStorage.getItem(key) || '';
      return { sort: SORTS.some(([v]) => v === saved) ? saved : '' };
    },
    watch: { sort(v) { if (v) localStorage.setItem(key, v); else localStorage.removeItem(key); } },
    methods: { sorted(items) { return sortItems(items, this.sort); } },
  };
}

export function clone(x) { return JSON.parse(JSON.stringify(x ?? null)); }

export async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch {
    const ta = document.createElement('textarea');
    ta.value = text; document.body.appendChild(ta); ta.select();
    const ok = document.execCommand('copy'); ta.remove(); return ok;
  }
}
