// Fallback chain editor for one role (LLM, speech-to-text, text-to-speech, embeddings): an ordered
// list of {backend, model[, voice]} tried when the ones before it cannot answer (docs/resilience.md).
import { backendsWithRole } from '../store.js';
import { ModelInput } from './model-input.js';
import { Icon } from './icon.js';

const MAX = 5;

export const FallbackList = {
  name: 'FallbackList',
  components: { ModelInput, Icon },
  props: { modelValue: { type: Array, default: () => [] }, role: String, voice: Boolean, label: { default: 'fallback' }, testid: String },
  emits: ['update:modelValue'],
  computed: {
    items() { return this.modelValue || []; },
    backends() { return backendsWithRole(this.role); },
    max() { return MAX; },
  },
  template: `
  <div class="fallbacks" :data-testid="testid">
    <p class="hint" v-if="items.length">Tried in order when the ones above cannot answer (down, timing out, rate-limited, wrong key) — before any output reached the user.</p>
    <div class="fallback-row" v-for="(f, i) in items" :key="i" :data-testid="testid && (testid + '-' + i)">
      <span class="badge">{{ i + 1 }}</span>
      <select :aria-label="'Fallback ' + (i + 1) + ' backend'" :value="f.backend" @change="set(i, 'backend', $event.target.value)">
        <option value="">— choose a backend —</option>
        <option v-for="b in backends" :key="b.id" :value="b.id">{{ b.name }} ({{ b.type }})</option>
      </select>
      <ModelInput :model-value="f.model" @update:model-value="set(i, 'model', $event)" :backend="f.backend" placeholder="model (default if empty)"/>
      <input v-if="voice" :aria-label="'Fallback ' + (i + 1) + ' voice'" :value="f.voice" @input="set(i, 'voice', $event.target.value)" placeholder="voice">
      <button type="button" class="btn ghost icon" :disabled="i === 0" @click="move(i, -1)" :aria-label="'Move fallback ' + (i + 1) + ' up'"><Icon name="up" :size="14"/></button>
      <button type="button" class="btn ghost icon" :disabled="i === items.length - 1" @click="move(i, 1)" :aria-label="'Move fallback ' + (i + 1) + ' down'"><Icon name="down" :size="14"/></button>
      <button type="button" class="btn ghost icon" @click="remove(i)" :aria-label="'Remove fallback ' + (i + 1)"><Icon name="trash" :size="14"/></button>
    </div>
    <button type="button" class="btn ghost small" v-if="items.length < max" @click="add"><Icon name="plus" :size="14"/> Add {{ label }}</button>
  </div>`,
  methods: {
    emit(list) { this.$emit('update:modelValue', list); },
    set(i, key, value) { const list = this.items.map((x) => ({ ...x })); list[i][key] = value; this.emit(list); },
    add() { this.emit([...this.items.map((x) => ({ ...x })), this.voice ? { backend: '', model: '', voice: '' } : { backend: '', model: '' }]); },
    remove(i) { this.emit(this.items.filter((_, j) => j !== i)); },
    move(i, d) { const list = this.items.map((x) => ({ ...x })); const [x] = list.splice(i, 1); list.splice(i + d, 0, x); this.emit(list); },
  },
};
