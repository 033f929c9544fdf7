// Renders a flat JSON Schema (object with properties) as form fields. v-model: config object.
import { Switch, PasswordInput } from './inputs.js';

export const SchemaForm = {
  name: 'SchemaForm',
  components: { Switch, PasswordInput },
  props: { schema: Object, modelValue: Object },
  emits: ['update:modelValue'],
  computed: {
    fields() {
      const props = this.schema?.properties || {};
      const req = this.schema?.required || [];
      return Object.entries(props).map(([key, p]) => ({
        key, p, required: req.includes(key),
        label: p.title || key.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase()),
        kind: p.enum ? 'enum' : p.type === 'boolean' ? 'bool' : (p.type === 'integer' || p.type === 'number') ? 'number'
          : (p['x-format'] === 'password' || p.format === 'password' || p.writeOnly || p['x-sensitive']) ? 'password' : 'text',
      }));
    },
  },
  template: `
  <div class="schema-form">
    <div class="field" v-for="f in fields" :key="f.key">
      <Switch v-if="f.kind === 'bool'" :model-value="!!val(f.key)" @update:model-value="set(f.key, $event)" :label="f.label"/>
      <template v-else>
        <label :for="'sf-' + f.key">{{ f.label }} <span class="req" v-if="f.required">*</span></label>
        <select v-if="f.kind === 'enum'" :id="'sf-' + f.key" :value="val(f.key) ?? f.p.default ?? ''" @change="set(f.key, $event.target.value)">
          <option v-for="o in f.p.enum" :key="o" :value="o">{{ o }}</option></select>
        <input v-else-if="f.kind === 'number'" :id="'sf-' + f.key" type="number" :value="val(f.key)" :placeholder="ph(f)"
          @input="set(f.key, $event.target.value === '' ? undefined : Number($event.target.value))">
        <PasswordInput v-else-if="f.kind === 'password'" :id="'sf-' + f.key" :model-value="val(f.key) || ''"
          :placeholder="(modelValue || {})[f.key + 'Set'] ? 'stored — leave empty to keep' : ph(f)" @update:model-value="set(f.key, $event, true)"/>
        <input v-else :id="'sf-' + f.key" :value="val(f.key) || ''" :placeholder="ph(f)" :required="f.required" spellcheck="false"
          @input="set(f.key, $event.target.value)">
      </template>
      <p class="hint" v-if="f.p.description">{{ f.p.description }}</p>
    </div>
    <p class="muted small" v-if="!fields.length">No settings needed for this type.</p>
  </div>`,
  methods: {
    val(k) { return (this.modelValue || {})[k]; },
    ph(f) { return f.p['x-placeholder'] || f.p.examples?.[0] || (f.p.default != null ? String(f.p.default) : ''); },
    // Empty optional fields are dropped, except write-only ones: "" tells the server to keep the stored value.
    set(k, v, keepEmpty = false) {
      const o = { ...(this.modelValue || {}) };
      if (v === undefined || (v === '' && !keepEmpty)) delete o[k]; else o[k] = v;
      this.$emit('update:modelValue', o);
    },
  },
};
