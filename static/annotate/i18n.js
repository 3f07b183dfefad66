// Translations for our ES modules. base.html loads Django's JavaScriptCatalog (/jsi18n/) as a plain script before
// any module, which defines django.gettext and django.ngettext for the page's language; a page without it shows the
// English source texts. Placeholders are named, as in the .po files: fmt(text, { n: 3, total: 10 }) fills %(n)s and
// %(total)s. Pass gettext() a plain double-quoted literal: makemessages extracts nothing else.
const catalog = globalThis.django || {};

export const gettext = catalog.gettext || ((msgid) => msgid);
export const ngettext = catalog.ngettext || ((singular, plural, n) => (n === 1 ? singular : plural));
export const pgettext = catalog.pgettext || ((context, msgid) => msgid);

export function fmt(template, values) {
  return template.replace(/%\((\w+)\)s/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

// Status values (stable identifiers, as the API sends them) in the page's language: annotate/i18n.py's table for
// the statuses a page updates live (ingest batches, exports, training runs).
const STATUS = {
  queued: pgettext("status", "queued"),
  running: pgettext("status", "running"),
  done: pgettext("status", "done"),
  failed: pgettext("status", "failed"),
  succeeded: pgettext("status", "succeeded"),
  cancelled: pgettext("status", "cancelled"),
};

export const statusText = (value) => STATUS[value] || String(value);
