// tests/lib/page_render.js: runs the status page's script (collector/web/status.html, as the
// collector serves it) in node with a minimal DOM, fed one api/status-page/data answer, and
// prints what it rendered, one line per part of the page:
//   TITLE <document.title> / <description>        DEMO <notice, or "(hidden)">
//   BANNER <text> [<class>]                        ERR <error text>
//   ASSETS <the rendering of #assets>              MAINT <#maint>    INC <#inc>
// A rendering is the element tree as <tag class attr=value ...>text</tag> (attributes in the
// order they were set, text as textContent put it). Used by tests/unit/collector/test_api_pg.c
// (which runs under ASan too, where the Chromium test does not run).
// usage: node page_render.js PAGE.html DATA.json
'use strict';
const fs = require('fs');

const [pagePath, dataPath] = process.argv.slice(2);
const html = fs.readFileSync(pagePath, 'utf8');
const data = JSON.parse(fs.readFileSync(dataPath, 'utf8'));
const a = html.indexOf('<script>'), b = html.indexOf('</script>');
if (a < 0 || b < a) {
    console.log('ERROR no inline script');
    process.exit(2);
}
const script = html.slice(a + '<script>'.length, b);

class Node {
    constructor(tag) {
        this.tag = tag; this.children = []; this.attrs = []; this.className = '';
        this.hidden = false; this.style = {}; this._t = ''; this.parent = null;
    }
    get firstChild() { return this.children[0] || null; }
    appendChild(c) { c.parent = this; this.children.push(c); return c; }
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); c.parent = null; return c; }
    set textContent(v) { this._t = String(v); this.children = []; }
    get textContent() { return this._t + this.children.map(c => c.textContent).join(''); }
    set id(v) { this.setAttribute('id', v); }
    get id() { return this.getAttribute('id') || ''; }
    setAttribute(k, v) {
        const e = this.attrs.find(x => x[0] === k);
        if (e) e[1] = String(v); else this.attrs.push([k, String(v)]);
    }
    getAttribute(k) { const e = this.attrs.find(x => x[0] === k); return e ? e[1] : null; }
    addEventListener() {}
    focus() { doc.activeElement = this; }
    getBoundingClientRect() { return {left: 0, top: 0, width: 0, height: 0, bottom: 0}; }
    get offsetWidth() { return 0; }
    get offsetHeight() { return 0; }
    render() {
        const attrs = (this.className ? [['class', this.className]] : []).concat(this.attrs)
            .concat(this.hidden ? [['hidden', '']] : []);
        return '<' + this.tag + attrs.map(([k, v]) => ' ' + k + '="' + v + '"').join('') + '>' +
            this._t + this.children.map(c => c.render()).join('') + '</' + this.tag + '>';
    }
}
class Text {
    constructor(t) { this._t = String(t); }
    get textContent() { return this._t; }
    render() { return this._t; }
}
function all(n, out) {
    for (const c of n.children || []) { out.push(c); all(c, out); }
    return out;
}
const byId = {};
const doc = {
    title: '', activeElement: null, documentElement: {clientWidth: 1280},
    body: new Node('body'),
    getElementById: i => byId[i] || (byId[i] = new Node('div')),
    createElement: t => new Node(t),
    createElementNS: (ns, t) => new Node(t),
    createTextNode: t => new Text(t),
    querySelectorAll: sel => Object.values(byId).flatMap(n => all(n, []))
        .filter(n => n.getAttribute && sel === '[data-k]' && n.getAttribute('data-k') !== null),
};
globalThis.document = doc;
globalThis.fetch = async p => {
    if (p !== 'api/status-page/data') return {ok: false, status: 404, json: async () => null};
    return {ok: true, status: 200, json: async () => JSON.parse(JSON.stringify(data))};
};
globalThis.setInterval = () => 0;
// the page's script, as it is served
new Function(script)();
setTimeout(() => {
    const r = i => (byId[i] ? byId[i].render() : '(none)');
    console.log('TITLE ' + doc.title + ' / ' + byId.desc.textContent);
    console.log('DEMO ' + (byId.demo.hidden ? '(hidden)' : byId['demo-text'].textContent));
    console.log('BANNER ' + byId.banner.textContent + ' [' + byId.banner.className + ']');
    console.log('ERR ' + byId.err.textContent);
    console.log('ASSETS ' + r('assets'));
    console.log('MAINT ' + r('maint'));
    console.log('INC ' + r('inc'));
}, 50);
