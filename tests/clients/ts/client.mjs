// Interop check: the official MCP TypeScript client (@modelcontextprotocol/client 2.4.0)
// against d365mcp.  Plain JavaScript ESM, no build step.
//
// Install (once):   cd tests/clients/ts && npm ci      (or npm install)
// Run (Node >= 20; the test uses Node 22):
//   npx -y -p node@22 -c "node tests/clients/ts/client.mjs URL MODE"
//   node tests/clients/ts/client.mjs URL MODE
//
// URL   The server's Streamable HTTP endpoint, e.g. http://127.0.0.1:18080/mcp.
//       For MODE=sse the same URL may be passed: the script then connects to
//       <scheme>://<host:port>/sse (the path is replaced by /sse) unless the URL
//       already ends in /sse, in which case it is used as it is.
// MODE  auto        versionNegotiation {mode:'auto'}: server/discover probe,
//                   fallback to initialize.  Expected protocol: 2026-07-28.
//                   NOTE: this SDK's *default* (no versionNegotiation option)
//                   is 'legacy', not 'auto'; that default is MODE=legacy.
//       2026-07-28  versionNegotiation {mode:{pin:'2026-07-28'}}.  Expected: 2026-07-28.
//       legacy      no versionNegotiation option (the SDK default): plain 2025
//                   initialize handshake over Streamable HTTP.  Expected: 2025-*.
//       sse         SSEClientTransport (legacy HTTP+SSE: GET /sse + POST /message),
//                   default (legacy) negotiation.  Expected: a handshake-era version;
//                   the negotiated version is reported.
//
// Steps: list tools, call d365fo_query_entities and d365fo_get_label, read resource
// d365fo://environment, get prompt d365fo_entity_analysis.
// Output: one JSON line on stdout, e.g.
//   {"client":"typescript","mode":"auto","protocol":"2026-07-28","tools":23,"ok":true}
// Exit 0 on success, 1 on any failure ("ok":false plus "error"; details on stderr),
// 2 on bad usage.  The whole run is bounded by 55 s.

import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const MODES = ['auto', '2026-07-28', 'legacy', 'sse'];
const TOTAL_TIMEOUT_MS = 55_000;
const REQUEST_TIMEOUT_MS = 15_000;
// Exists in the simulator (sim/src/metadata/label_texts.rs: ("Name", "@SYS7399", ...)).
// Note: @SYS9362 does NOT resolve there.
const LABEL_ID = '@SYS7399';
const ENTITY_SET = 'CustomersV3';
const HANDSHAKE_VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];

const [url, mode] = process.argv.slice(2);
if (!url || !MODES.includes(mode) || process.argv.length !== 4) {
    console.error(`usage: node client.mjs URL {${MODES.join('|')}}`);
    process.exit(2);
}

const summary = { client: 'typescript', sdk: '@modelcontextprotocol/client 2.4.0', mode, protocol: null, tools: 0 };
let step = 'start';

function finish(ok, err) {
    summary.ok = ok;
    if (!ok) {
        summary.error = `${step}: ${describe(err)}`;
        console.error(`FAILED at ${step}: ${describe(err)}`);
        if (err && err.stack) console.error(err.stack);
    }
    process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(ok ? 0 : 1));
}

function describe(err) {
    if (err === undefined || err === null) return String(err);
    if (err instanceof Error) {
        const code = err.code !== undefined ? ` (code ${JSON.stringify(err.code)})` : '';
        const data = err.data !== undefined ? ` data=${JSON.stringify(err.data)}` : '';
        return `${err.name}: ${err.message}${code}${data}`;
    }
    return typeof err === 'string' ? err : JSON.stringify(err);
}

function check(cond, what) {
    if (!cond) throw new Error(`check failed: ${what}`);
}

function sseUrlFor(u) {
    const parsed = new URL(u);
    if (parsed.pathname.replace(/\/+$/, '').endsWith('/sse')) return parsed;
    return new URL('/sse', parsed.origin);
}

function expectedProtocolOk(v) {
    if (mode === 'auto' || mode === '2026-07-28') return v === '2026-07-28';
    if (mode === 'legacy') return typeof v === 'string' && v.startsWith('2025-');
    return HANDSHAKE_VERSIONS.includes(v);
}

function contentText(content) {
    return (content ?? [])
        .filter(c => c && c.type === 'text' && c.text)
        .map(c => c.text)
        .join(' ');
}

const watchdog = setTimeout(() => {
    finish(false, new Error(`whole run exceeded ${TOTAL_TIMEOUT_MS} ms`));
}, TOTAL_TIMEOUT_MS);

async function run() {
    const options = {};
    if (mode === 'auto') options.versionNegotiation = { mode: 'auto' };
    if (mode === '2026-07-28') options.versionNegotiation = { mode: { pin: '2026-07-28' } };
    const client = new Client({ name: 'd365mcp-interop-ts', version: '0.1.0' }, options);
    client.onerror = e => console.error(`client onerror: ${describe(e)}`);

    let transport;
    if (mode === 'sse') {
        const target = sseUrlFor(url);
        summary.url = target.href;
        transport = new SSEClientTransport(target);
    } else {
        transport = new StreamableHTTPClientTransport(new URL(url));
    }
    const req = { timeout: REQUEST_TIMEOUT_MS, maxTotalTimeout: REQUEST_TIMEOUT_MS };

    step = 'connect';
    await client.connect(transport, req);
    try {
        summary.protocol = client.getNegotiatedProtocolVersion() ?? null;
        summary.era = client.getProtocolEra() ?? null;
        const info = client.getServerVersion();
        if (info) summary.server = `${info.name} ${info.version}`;
        check(
            expectedProtocolOk(summary.protocol),
            `negotiated protocol ${JSON.stringify(summary.protocol)} is not what mode ${mode} expects`
        );

        // 1. tools/list (no cursor: the SDK walks and aggregates every page)
        step = 'tools/list';
        const { tools } = await client.listTools(undefined, req);
        summary.tools = tools.length;
        check(tools.length >= 12, `expected >= 12 tools (the default toolsets), got ${tools.length}`);
        const bad = tools.filter(t => !t.name.startsWith('d365fo_')).map(t => t.name);
        check(bad.length === 0, `tool names without the d365fo_ prefix: ${bad.join(', ')}`);
        const queryTool = tools.find(t => t.name === 'd365fo_query_entities');
        check(queryTool, 'd365fo_query_entities is not listed');
        const schema = queryTool.inputSchema;
        check(
            schema && schema.type === 'object' && schema.properties && Object.keys(schema.properties).length > 0,
            `d365fo_query_entities has no usable inputSchema: ${JSON.stringify(schema)}`
        );

        // 2. tools/call d365fo_query_entities
        step = 'tools/call d365fo_query_entities';
        let res = await client.callTool({ name: 'd365fo_query_entities', arguments: { entity_set: ENTITY_SET, top: 3 } }, req);
        check(!res.isError, `d365fo_query_entities returned isError: ${contentText(res.content)}`);
        const sc = res.structuredContent;
        check(sc && typeof sc === 'object', `d365fo_query_entities has no structuredContent: ${JSON.stringify(sc)}`);
        check(Array.isArray(sc.rows) && sc.rows.length > 0, `structuredContent has no rows: ${JSON.stringify(sc).slice(0, 300)}`);
        check(sc.returned === 3, `structuredContent.returned=${JSON.stringify(sc.returned)}, expected 3`);
        summary.rows = sc.rows.length;

        // 3. tools/call d365fo_get_label
        step = 'tools/call d365fo_get_label';
        res = await client.callTool({ name: 'd365fo_get_label', arguments: { label_id: LABEL_ID } }, req);
        check(!res.isError, `d365fo_get_label(${LABEL_ID}) returned isError: ${contentText(res.content)}`);
        let text = res.structuredContent && typeof res.structuredContent === 'object' ? res.structuredContent.text : undefined;
        if (!text) text = contentText(res.content);
        check(typeof text === 'string' && text.trim().length > 0, `d365fo_get_label(${LABEL_ID}) returned no text`);
        summary.label = text;

        // 4. resources/read d365fo://environment
        step = 'resources/read d365fo://environment';
        const rr = await client.readResource({ uri: 'd365fo://environment' }, req);
        check(Array.isArray(rr.contents) && rr.contents.length > 0, 'd365fo://environment returned no contents');
        const body = rr.contents[0].text ?? rr.contents[0].blob;
        check(typeof body === 'string' && body.length > 0, 'd365fo://environment first content is empty');

        // 5. prompts/get d365fo_entity_analysis
        step = 'prompts/get d365fo_entity_analysis';
        const pr = await client.getPrompt({ name: 'd365fo_entity_analysis', arguments: { entity: ENTITY_SET } }, req);
        check(Array.isArray(pr.messages) && pr.messages.length > 0, 'd365fo_entity_analysis returned no messages');
        summary.prompt_messages = pr.messages.length;
        step = 'done';
    } finally {
        const closing = step;
        step = `close (after ${closing})`;
        try {
            await client.close();
        } catch (e) {
            console.error(`close failed: ${describe(e)}`);
        }
        step = closing;
    }
}

run().then(
    () => {
        clearTimeout(watchdog);
        finish(true);
    },
    err => {
        clearTimeout(watchdog);
        finish(false, err);
    }
);
