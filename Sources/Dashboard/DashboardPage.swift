/// The dashboard: one page, its script and its style, served from memory (nothing from a CDN).
/// The script draws the charts as SVG itself and writes every value with `textContent`, never as
/// HTML, so a queue name, a payload or an error message cannot inject markup.
/// The script is kept in parts: `DashboardScript` (state, status, cards, hosts, alerts, events,
/// actions), `DashboardCharts` (axes, ticks, hover read-out) and `DashboardDeadLetters` (dead-letter
/// tables, the job panel, the job search); `DashboardStyle` holds the CSS.
enum DashboardPage {
    static let script = DashboardScript.core + DashboardCharts.script + DashboardDeadLetters.script + DashboardScript.boot
    static let style = DashboardStyle.css

    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>rpa-orchestrator</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/app.css">
    <script src="/app.js" defer></script>
    </head>
    <body>
    <header>
      <h1>rpa-orchestrator</h1>
      <span id="summary" class="muted"></span>
      <span id="updated" class="muted"></span>
      <form id="jobsearch" role="search">
        <input id="jobid" type="search" placeholder="Find a job by id" autocomplete="off" spellcheck="false" aria-label="Job id">
        <button type="submit" id="jobfind">Find job</button>
        <span id="jobmsg" class="muted" role="status"></span>
      </form>
      <form id="tokenform" hidden>
        <input id="token" type="password" placeholder="HTTP token for actions" autocomplete="off" aria-label="HTTP token">
        <button type="submit" id="tokensave">Use token</button>
      </form>
    </header>
    <div id="banner" class="banner" hidden></div>
    <div id="notice" class="notice" role="status" hidden></div>
    <h2>Active alerts</h2>
    <section id="alerts" aria-label="Active alerts"></section>
    <div class="range" role="group" aria-label="Chart range">
      Charts: <button data-range="1h" class="on">1 hour</button><button data-range="24h">24 hours</button><button data-range="7d">7 days</button>
    </div>
    <section id="queues" aria-label="Queues"></section>
    <h2>Dead letters</h2>
    <section id="dead" aria-label="Dead letters"><p class="muted">No dead letters.</p></section>
    <h2>Hosts</h2>
    <div class="scroll"><table id="hosts">
      <thead><tr><th>Host</th><th>Machine</th><th>State</th><th>Workers / capacity</th><th>Workers per queue</th><th>Last seen</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <h2>Workers</h2>
    <div class="scroll"><table id="workers">
      <thead><tr><th>PID</th><th>Queue</th><th>Slot</th><th>Host</th><th>State</th><th>Job age</th><th>Jobs done</th><th>Memory (PSS)</th><th>Started</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <h2>Latest events</h2>
    <ol id="events"></ol>
    <aside id="panel" hidden aria-label="Job details" tabindex="-1"></aside>
    <footer class="muted" id="footer"></footer>
    </body>
    </html>
    """#
}
