// Settings → Backup & restore: download a backup (.tar.gz), and restore one (magec's or Magec's),
// with a dry run listing what would change first. Routes: docs/backup.md.
import { raw } from '../api.js';
import { loadAll } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';

const mb = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`);

const OPTIONAL = [
  ['sessions', 'Sessions'], ['memories', 'Long-term memories'], ['artifacts', 'Artifacts'],
  ['audit', 'Conversation audit'], ['runs', 'Flow runs'], ['usage', 'Usage (cost history)'],
];

export default {
  name: 'BackupSection',
  components: { Icon },
  data() {
    return { optional: OPTIONAL, include: [], busy: false, file: null, result: null, confirming: false, progress: '' };
  },
  computed: {
    rows() {
      const changes = this.result?.changes || {};
      return Object.keys(changes).sort().map((kind) => ({ kind, ...changes[kind] }))
        .filter((r) => r.created.length || r.updated.length || r.deleted.length || r.unchanged);
    },
    // the optional data sections: replaced by the archive's rows when it carries them, else left
    // as they are (docs/backup.md) — what "Replace everything" does to sessions and memories
    data() {
      if (this.result?.origin !== 'magec') return [];
      const sections = this.result.sections || {};
      return OPTIONAL.map(([name, label]) => {
        const tables = sections[name];
        const rows = tables ? Object.values(tables).reduce((n, v) => n + (Number(v) || 0), 0) : null;
        return { name, label, rows };
      });
    },
  },
  template: `
  <section class="panel" data-testid="backup-section">
    <h2>Backup &amp; restore</h2>
    <p class="hint">A backup holds every resource, the settings and the secrets (still encrypted: it restores only on a server with the same <code>server.encryptionKey</code>). Conversation data is added on request.</p>
    <div class="form">
      <div class="field"><label>Also include</label>
        <div class="row wrap">
          <label v-for="[name, label] in optional" :key="name" class="check">
            <input type="checkbox" :value="name" v-model="include" :data-testid="'include-' + name"> {{ label }}</label>
        </div>
      </div>
      <div><button class="btn" type="button" :disabled="busy" @click="download" data-testid="backup-download">
        <Icon name="down" :size="16"/> Download backup</button></div>
      <div class="field"><label for="bk-file">Restore from a backup (.tar.gz, magec's or Magec's)</label>
        <input id="bk-file" type="file" accept=".tar.gz,.tgz,application/gzip" @change="pick" data-testid="restore-file"></div>
      <div class="row">
        <button class="btn secondary" type="button" :disabled="busy || !file" @click="send(true)" data-testid="restore-dry-run">Dry run</button>
        <button class="btn danger" type="button" :disabled="busy || !file" @click="confirming = true" data-testid="restore-start">Restore…</button>
      </div>
      <div v-if="confirming" class="callout warn" data-testid="restore-confirm">
        <p>This replaces <strong>every</strong> resource, the settings and the data this backup carries (a dry run lists which) with the backup's; data it does not carry is left as it is. It is all or nothing.</p>
        <button class="btn danger" type="button" :disabled="busy" @click="send(false)" data-testid="restore-confirm-yes">Replace everything</button>
        <button class="btn secondary" type="button" @click="confirming = false">Cancel</button>
      </div>
      <p v-if="progress" class="hint" role="status" aria-live="polite" data-testid="backup-progress">{{ progress }}</p>
    </div>
    <div v-if="result" class="backup-result" data-testid="restore-result">
      <p><strong>{{ result.status === 'dryRun' ? 'Dry run: a restore would change' : 'Restored' }}</strong>
        <span class="muted"> — settings {{ result.settings }}</span></p>
      <table class="table">
        <thead><tr><th>Kind</th><th>Created</th><th>Updated</th><th>Deleted</th><th>Unchanged</th></tr></thead>
        <tbody><tr v-for="r in rows" :key="r.kind" :data-testid="'change-' + r.kind">
          <td>{{ r.kind }}</td><td>{{ r.created.length }}</td><td>{{ r.updated.length }}</td><td>{{ r.deleted.length }}</td><td>{{ r.unchanged }}</td></tr></tbody>
      </table>
      <ul v-if="data.length" class="small" data-testid="restore-data">
        <li v-for="d in data" :key="d.name" :data-testid="'data-' + d.name"><strong>{{ d.label }}</strong>:
          <template v-if="d.rows === null">not in this backup, {{ result.status === 'dryRun' ? 'would be left' : 'left' }} as they are</template>
          <template v-else>{{ result.status === 'dryRun' ? 'would be replaced by' : 'replaced by' }} the backup's ({{ d.rows }} {{ d.rows === 1 ? 'row' : 'rows' }})</template></li>
      </ul>
      <p v-for="w in result.warnings" :key="w" class="muted">⚠ {{ w }}</p>
    </div>
  </section>`,
  methods: {
    // What the page is doing while it waits: a backup with conversation data takes a while to
    // build on the server and to arrive (hundreds of MB), and a disabled button alone said nothing.
    async download() {
      this.busy = true;
      this.progress = this.include.length ? 'Preparing the backup (with ' + this.include.join(', ') + ')…' : 'Preparing the backup…';
      try {
        const q = this.include.length ? `?include=${this.include.join(',')}` : '';
        const res = await raw('GET', `/settings/backup${q}`);
        const m = (res.headers.get('content-disposition') || '').match(/filename="?([^"]+)"?/);
        const a = document.createElement('a');
        a.href = URL.createObjectURL(await this.receive(res));
        a.download = m ? m[1] : 'magec-backup.tar.gz';
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 1000);
        toast.success('Backup downloaded');
      } catch (e) { toast.error(e); } finally { this.busy = false; this.progress = ''; }
    },
    // the archive, read as it arrives, saying how much came so far
    async receive(res) {
      const total = Number(res.headers.get('content-length')) || 0;
      if (!res.body) return res.blob();
      const reader = res.body.getReader();
      const chunks = [];
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(value); got += value.length;
        this.progress = total ? `Downloading the backup: ${Math.floor((got * 100) / total)} % (${mb(got)} of ${mb(total)})`
          : `Downloading the backup: ${mb(got)}`;
      }
      return new Blob(chunks, { type: res.headers.get('content-type') || 'application/gzip' });
    },
    pick(e) { this.file = e.target.files?.[0] || null; this.result = null; this.confirming = false; },
    async send(dryRun) {
      this.busy = true;
      this.progress = `${dryRun ? 'Checking' : 'Restoring'} ${this.file.name} (${mb(this.file.size)}): uploading, then validating${dryRun ? '' : ' and applying it all at once'}…`;
      try {
        const res = await raw('POST', `/settings/restore${dryRun ? '?dryRun=true' : ''}`,
          { form: this.file, headers: { 'Content-Type': 'application/gzip' } });
        this.result = await res.json();
        this.confirming = false;
        if (!dryRun) { await loadAll(); toast.success('Backup restored'); }
      } catch (e) { toast.error(e); } finally { this.busy = false; this.progress = ''; }
    },
  },
};
