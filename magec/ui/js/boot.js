// Boot progress (a classic script, not a module: it runs while the modules are still downloading).
// The server lists every module as <link rel="modulepreload"> in index.html (magec/api/admin/ui_assets.py);
// this counts how many have arrived and fills the bar until the app replaces the boot screen.
(function () {
  var links = Array.prototype.slice.call(document.querySelectorAll('link[rel="modulepreload"]'));
  var total = links.length;
  if (!total) return;
  var done = 0;
  function paint() {
    var bar = document.querySelector('.boot-bar');
    if (!bar) return false; // the app is up
    var pct = Math.round((done / total) * 100);
    bar.setAttribute('aria-valuenow', String(pct));
    bar.firstElementChild.style.width = pct + '%';
    var c = document.querySelector('.boot-count');
    if (c) c.textContent = done + ' / ' + total + ' files';
    return true;
  }
  function arrived(href) {
    return performance.getEntriesByName(href).some(function (e) { return e.responseEnd > 0; });
  }
  links.forEach(function (l) {
    if (arrived(l.href)) done++;
    else l.addEventListener('load', function () { done++; paint(); }, { once: true });
  });
  paint();
})();
