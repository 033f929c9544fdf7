// Small form controls: key/value rows, tag chips, toggle chips, switch, password field.
import { Icon } from './icon.js';

// v-model is an object {key: value}; edited as rows so empty/duplicate keys can be typed.
export const KvEditor = {
  name: 'KvEditor',
  components: { Icon },
  props: { modelValue: Object, keyPlaceholder: { default: 'Header' }, valuePlaceholder: { default: 'Value' }, addLabel: { default: 'Add' } },
  emits: ['update:modelValue'],
  data() { return { rows: this.toRows(this.modelValue) }; },
  watch: {
    modelValue(v) { if (JSON.stringify(v || {}) !== JSON.stringify(this.toObj())) this.rows = this.toRows(v); },
  },
  template: `
  <div class="kv">
    <div class="kv-row" v-for="(r, i) in rows" :key="i">
      <input v-model="r.k" :placeholder="keyPlaceholder" @input="emit" aria-label="Key">
      <input v-model="r.v" :placeholder="r.stored ? 'stored — leave empty to keep' : valuePlaceholder" @input="emit" aria-label="Value">
      <button type="button" class="icon-btn" @click="remove(i)" aria-label="Remove row"><Icon name="x"/></button>
    </div>
    <button type="button" class="btn ghost sm" @click="add"><Icon name="plus" :size="14"/> {{ addLabel }}</button>
  </div>`,
  methods: {
    // Sensitive values come back blanked ("") from the API; sending "" again keeps them.
    toRows(o) { return Object.entries(o || {}).map(([k, v]) => ({ k, v: String(v ?? ''), stored: v === '' })); },
    toObj() { const o = {}; for (const r of this.rows) if (r.k.trim()) o[r.k.trim()] = r.v; return o; },
    emit() { this.$emit('update:modelValue', this.toObj()); },
    add() { this.rows.push({ k: '', v: '' }); },
    remove(i) { this.rows.splice(i, 1); this.emit(); },
  },
};

// Free-text chips (tags). v-model: string[]
export const ChipsInput = {
  name: 'ChipsInput',
  components: { Icon },
  props: { modelValue: Array, placeholder: { default: 'Add and press Enter' }, lower: Boolean },
  emits: ['update:modelValue'],
  data() { return { text: '' }; },
  template: `
  <div class="chips-input">
    <span class="chip" v-for="(c, i) in modelValue || []" :key="c">{{ c }}
      <button type="button" @click="remove(i)" :aria-label="'Remove ' + c"><Icon name="x" :size="12"/></button></span>
    <input v-model="text" :placeholder="placeholder" @keydown.enter.prevent="add" @keydown.,.prevent="add"
      @keydown.backspace="text || remove((modelValue||[]).length - 1)" @blur="add">
  </div>`,
  methods: {
    add() {
      let t = this.text.trim(); if (this.lower) t = t.toLowerCase();
      const cur = this.modelValue || [];
      if (t && !cur.includes(t)) this.$emit('update:modelValue', [...cur, t]);
      this.text = '';
    },
    remove(i) { if (i < 0) return; const c = [...(this.modelValue || [])]; c.splice(i, 1); this.$emit('update:modelValue', c); },
  },
};

// Pick a subset of options [{value, label, hint}] as toggle chips. v-model: value[]
// Pick several of `options` ({value, label, hint}) by toggling chips. With `search` (its label) and
// more than SEARCH_FROM options, a search box filters the chips by label: Enter toggles the only match
// (or the first), Escape clears the search (and does not close the dialog), Down moves to the chips.
// What is picked stays counted even when the search hides it.
const SEARCH_FROM = 8;
export const ToggleChips = {
  name: 'ToggleChips',
  props: { modelValue: Array, options: Array, empty: { default: 'Nothing to choose from yet.' }, search: String },
  emits: ['update:modelValue'],
  data() { return { q: '' }; },
  computed: {
    searchable() { return !!this.search && (this.options || []).length > SEARCH_FROM; },
    shown() {
      const q = this.q.trim().toLowerCase();
      return !q ? this.options || [] : (this.options || []).filter((o) => String(o.label).toLowerCase().includes(q));
    },
    picked() { return (this.modelValue || []).length; },
    hiddenPicked() { return (this.modelValue || []).filter((v) => !this.shown.some((o) => o.value === v)).length; },
  },
  template: `
  <div class="toggle-chips-wrap">
    <div class="chips-search" v-if="searchable">
      <!-- @input.stop: a search is not work the dialog should ask to keep (Modal marks it dirty on input) -->
      <input type="search" v-model="q" :placeholder="search" :aria-label="search" data-testid="chips-search" @input.stop
        @keydown.enter.prevent="shown.length && toggle(shown[0].value)" @keydown.esc="onEscape"
        @keydown.down.prevent="focusChip(0)">
      <span class="muted small" aria-live="polite" data-testid="chips-count">{{ picked }} picked<template v-if="hiddenPicked">, {{ hiddenPicked }} not shown</template>
        <template v-if="q.trim()"> · {{ shown.length }} of {{ options.length }} shown</template></span>
    </div>
    <div class="toggle-chips" ref="chips">
      <button type="button" v-for="o in shown" :key="o.value" class="tchip" :class="{on: has(o.value)}"
        :title="o.hint || ''" :aria-pressed="has(o.value)" @click="toggle(o.value)">{{ o.label }}</button>
      <span class="muted small" v-if="!options || !options.length">{{ empty }}</span>
      <span class="muted small" v-else-if="!shown.length" data-testid="chips-no-match">Nothing matches “{{ q.trim() }}”.</span>
    </div>
  </div>`,
  methods: {
    has(v) { return (this.modelValue || []).includes(v); },
    toggle(v) {
      const cur = [...(this.modelValue || [])];
      const i = cur.indexOf(v);
      if (i >= 0) cur.splice(i, 1); else cur.push(v);
      this.$emit('update:modelValue', cur);
    },
    onEscape(e) { if (this.q) { e.stopPropagation(); e.preventDefault(); this.q = ''; } },
    focusChip(i) { const chip = this.$refs.chips?.querySelectorAll('.tchip')[i]; if (chip) chip.focus(); },
  },
};

export const Switch = {
  name: 'Switch',
  props: { modelValue: Boolean, label: String },
  emits: ['update:modelValue'],
  template: `
  <label class="switch">
    <input type="checkbox" role="switch" :checked="modelValue" @change="$emit('update:modelValue', $event.target.checked)">
    <span class="track"><span class="thumb"></span></span>
    <span v-if="label">{{ label }}</span>
  </label>`,
};

export const PasswordInput = {
  name: 'PasswordInput',
  components: { Icon },
  props: { modelValue: String, placeholder: String, name: String, id: String, autocomplete: { default: 'new-password' } },
  emits: ['update:modelValue'],
  data() { return { show: false }; },
  // A ${SECRET_KEY} reference is not a secret itself: show it in clear.
  computed: { isRef() { return /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(this.modelValue || ''); } },
  template: `
  <div class="pw">
    <input :id="id" :type="show || isRef ? 'text' : 'password'" :value="modelValue" :name="name" :placeholder="placeholder"
      :autocomplete="autocomplete" spellcheck="false" @input="$emit('update:modelValue', $event.target.value)">
    <button type="button" class="icon-btn" @click="show = !show" :aria-label="show ? 'Hide' : 'Show'" :title="show ? 'Hide' : 'Show'"><Icon name="eye"/></button>
  </div>`,
};
