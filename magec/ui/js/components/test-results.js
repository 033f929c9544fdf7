// Renders the result of POST /backends/test: per-role status, latency, capabilities, models.
import { Icon } from './icon.js';

const ROLE_LABELS = { models: 'Model list', llm: 'Chat (LLM)', tools: 'Tool calling', embeddings: 'Embeddings', tts: 'Text-to-speech', stt: 'Speech-to-text' };

export const TestResults = {
  name: 'TestResults',
  components: { Icon },
  props: { result: Object },
  data() { return { showAll: false }; },
  computed: {
    roles() { return Object.entries(this.result?.roles || {}).map(([k, v]) => ({ key: k, label: ROLE_LABELS[k] || k, ...(v || {}) })); },
    caps() {
      const c = this.result?.capabilities || {};
      const out = [];
      if (c.roles?.length) out.push(['Roles', c.roles.join(', ')]);
      for (const k of ['tools', 'streamingTools', 'vision']) if (c[k] != null) out.push([k === 'streamingTools' ? 'Streaming tools' : k[0].toUpperCase() + k.slice(1), c[k] ? 'yes' : 'no']);
      if (c.embeddingDimension) out.push(['Embedding dimension', c.embeddingDimension]);
      if (c.voices?.length) out.push(['Voices', c.voices.join(', ')]);
      return out;
    },
    models() { return (this.result?.models || []).map((m) => (typeof m === 'string' ? m : m.id)); },
    shownModels() { return this.showAll ? this.models : this.models.slice(0, 24); },
  },
  template: `
  <div class="test-results" v-if="result" data-testid="test-results">
    <div class="banner" :class="result.ok ? 'success' : 'error'">
      <Icon :name="result.ok ? 'check' : 'alert'" :size="16"/>
      <span>{{ result.ok ? 'Connection OK' : ('Connection failed' + (result.error ? ': ' + result.error : '')) }}</span>
    </div>
    <table class="roles" v-if="roles.length">
      <tbody>
        <tr v-for="r in roles" :key="r.key" :data-role="r.key">
          <td><span class="dot" :class="r.ok ? 'healthy' : (r.ok === false ? 'unhealthy' : 'unknown')"></span> {{ r.label }}</td>
          <td class="num">{{ r.latencyMs != null ? Math.round(r.latencyMs) + ' ms' : '' }}</td>
          <td class="muted small detail">{{ r.detail }}</td>
        </tr>
      </tbody>
    </table>
    <dl class="caps" v-if="caps.length">
      <template v-for="c in caps" :key="c[0]"><dt>{{ c[0] }}</dt><dd>{{ c[1] }}</dd></template>
    </dl>
    <div v-if="models.length" class="models">
      <div class="label">Models ({{ models.length }})</div>
      <div class="chip-list"><code class="chip" v-for="m in shownModels" :key="m">{{ m }}</code>
        <button type="button" class="btn ghost sm" v-if="models.length > 24" @click="showAll = !showAll">{{ showAll ? 'Show less' : 'Show all' }}</button>
      </div>
    </div>
  </div>`,
};
