// The config form of one client type, generated from its JSON Schema (GET /clients/types).
// v-model is the type's section (config.<type>); fields the schema does not know are never touched,
// so nothing a client was saved with (by Magec, an import or a newer magec) is lost on save.
// Field kinds: text, password (x-format: password; empty = keep the stored value), enum, boolean,
// integer/number, x-entity (a select of agents or commands), arrays of ids (comma-separated) and
// anything else (arrays of objects…) as JSON.
import { Switch, PasswordInput } from '../components/inputs.js';
import { store } from '../store.js';

const label = (key, p) => p.title || key.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase());

function kindOf(p) {
  if (p['x-format'] === 'password') return 'password';
  if (p['x-entity']) return 'entity';
  if (p.enum) return 'enum';
  if (p.type === 'boolean') return 'bool';
  if (p.type === 'integer' || p.type === 'number') return 'number';
  if (p.type === 'array' && ['integer', 'string', 'number'].includes(p.items?.type)) return 'list';
  if (p.type === 'string' || !p.type) return 'text';
  return 'json';
}

// "1, 2,3" -> [1, 2, 3] for integer items; strings kept as typed. Bad numbers stay text, so the
// server's 400 names the field instead of the UI silently dropping a value.
export function parseList(text, itemType) {
  const parts = String(text || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  if (itemType === 'integer' || itemType === 'number') return parts.map((x) => (/^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x));
  return parts;
}

export const ClientConfigForm = {
  name: 'ClientConfigForm',
  components: { Switch, PasswordInput },
  props: { schema: Object, modelValue: Object, ctype: String },
  emits: ['update:modelValue'],
  data() { return { drafts: {}, jsonErrors: {} }; },
  computed: {
    fields() {
      const props = this.schema?.properties || {};
      const req = this.schema?.required || [];
      return Object.entries(props).map(([key, p]) => ({ key, p, required: req.includes(key), label: label(key, p), kind: kindOf(p) }));
    },
  },
  template: `
  <div class="schema-form client-config" :data-testid="'client-config-' + ctype">
    <div class="field" v-for="f in fields" :key="f.key">
      <Switch v-if="f.kind === 'bool'" :data-field="fieldPath(f.key)" :model-value="!!val(f.key)" @update:model-value="set(f.key, $event)" :label="f.label"/>
      <template v-else>
        <label :for="'cc-' + f.key">{{ f.label }} <span class="req" v-if="f.required">*</span></label>
        <select v-if="f.kind === 'enum'" :id="'cc-' + f.key" :data-field="fieldPath(f.key)" :value="val(f.key) ?? f.p.default ?? ''" @change="set(f.key, $event.target.value)">
          <option v-for="o in f.p.enum" :key="o" :value="o">{{ o }}</option></select>
        <select v-else-if="f.kind === 'entity'" :id="'cc-' + f.key" :data-field="fieldPath(f.key)" :value="val(f.key) ?? ''" @change="set(f.key, $event.target.value)">
          <option value="">{{ f.required ? 'Choose…' : '(none)' }}</option>
          <option v-for="o in entities(f.p['x-entity'])" :key="o.id" :value="o.id">{{ o.name }}</option>
          <option v-if="val(f.key) && !entities(f.p['x-entity']).some((o) => o.id === val(f.key))" :value="val(f.key)">{{ val(f.key) }} (missing)</option>
        </select>
        <input v-else-if="f.kind === 'number'" :id="'cc-' + f.key" :data-field="fieldPath(f.key)" type="number" :value="val(f.key)" :placeholder="ph(f)"
          :min="f.p.minimum" :max="f.p.maximum" @input="set(f.key, $event.target.value === '' ? undefined : Number($event.target.value))">
        <PasswordInput v-else-if="f.kind === 'password'" :id="'cc-' + f.key" :data-field="fieldPath(f.key)" :model-value="val(f.key) || ''"
          :placeholder="(modelValue || {})[f.key + 'Set'] ? 'stored — leave empty to keep' : ph(f)" @update:model-value="set(f.key, $event, true)"/>
        <input v-else-if="f.kind === 'list'" :id="'cc-' + f.key" :data-field="fieldPath(f.key)" :value="listText(f.key)" :placeholder="ph(f)" spellcheck="false"
          @input="setList(f, $event.target.value)">
        <template v-else-if="f.kind === 'json'">
          <textarea :id="'cc-' + f.key" :data-field="fieldPath(f.key)" rows="3" class="mono" spellcheck="false" :value="jsonText(f.key)" @input="setJson(f.key, $event.target.value)"></textarea>
          <p class="error-text small" v-if="jsonErrors[f.key]">{{ jsonErrors[f.key] }}</p>
        </template>
        <input v-else :id="'cc-' + f.key" :data-field="fieldPath(f.key)" :value="val(f.key) || ''" :placeholder="ph(f)" :required="f.required" spellcheck="false"
          @input="set(f.key, $event.target.value)">
      </template>
      <p class="hint" v-if="f.p.description">{{ f.p.description }}</p>
    </div>
    <p class="muted small" v-if="!fields.length">No settings needed for this type.</p>
  </div>`,
  methods: {
    val(k) { return (this.modelValue || {})[k]; },
    // The path the Admin API names in a 400 (`config.webhook.commandId`): components/field-errors.js
    // finds the control by it and shows the message there (a label like "Command" would not match).
    fieldPath(k) { return `config.${this.ctype}.${k}`; },
    ph(f) { return f.p['x-placeholder'] || (f.p.default != null ? String(f.p.default) : ''); },
    entities(kind) {
      if (kind === 'agents') return [...store.agents, ...store.flows];
      return store[kind] || [];
    },
    listText(k) { return k in this.drafts ? this.drafts[k] : (this.val(k) || []).join(', '); },
    jsonText(k) { return k in this.drafts ? this.drafts[k] : (this.val(k) === undefined ? '' : JSON.stringify(this.val(k))); },
    setList(f, text) {
      this.drafts[f.key] = text;
      const items = parseList(text, f.p.items?.type);
      this.set(f.key, items.length || f.key in (this.modelValue || {}) ? items : undefined);
    },
    setJson(k, text) {
      this.drafts[k] = text;
      if (!text.trim()) { this.jsonErrors[k] = ''; this.set(k, undefined); return; }
      try { this.set(k, JSON.parse(text)); this.jsonErrors[k] = ''; } catch (e) { this.jsonErrors[k] = `Not valid JSON: ${e.message}`; }
    },
    // Empty optional fields are dropped, except write-only ones: "" tells the server to keep the stored value.
    set(k, v, keepEmpty = false) {
      const o = { ...(this.modelValue || {}) };
      if (v === undefined || (v === '' && !keepEmpty)) delete o[k]; else o[k] = v;
      this.$emit('update:modelValue', o);
    },
  },
};

// The stored secret flags (<field>Set) the Admin API adds to a view are not config: drop them
// before saving. Everything else in every section is sent back as it came.
export function configForSave(config, types) {
  const out = JSON.parse(JSON.stringify(config || {}));
  for (const t of types || []) {
    const section = out[t.type];
    if (!section || typeof section !== 'object') continue;
    for (const [key, p] of Object.entries(t.configSchema?.properties || {})) {
      if (p['x-format'] === 'password') delete section[key + 'Set'];
    }
  }
  return out;
}
