/// The dashboard's CSS (served as /app.css; no inline style anywhere: the CSP allows 'self' only).
enum DashboardStyle {
    static let css = #"""
    :root { --bg: #f7f7f5; --card: #fff; --ink: #1d1d1f; --muted: #6b6b70; --line: #e2e2e0; --red: #c62828; --amber: #b26a00;
            --blue: #1565c0; --green: #2e7d32; --grey: #9e9e9e; }
    * { box-sizing: border-box; }
    body { margin: 0; padding: 12px 16px 32px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
    header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; }
    h1 { font-size: 20px; margin: 0; }
    h2 { font-size: 16px; margin: 20px 0 8px; }
    .muted { color: var(--muted); }
    .banner { margin: 10px 0; padding: 10px 12px; border-radius: 6px; background: var(--red); color: #fff; font-weight: 600; }
    .banner.warn { background: var(--amber); }
    #alerts .alert { margin: 8px 0; padding: 8px 12px; border-left: 4px solid var(--amber); background: #fff4e0; border-radius: 4px; }
    #alerts .alert.critical { border-color: var(--red); background: #fdecea; }
    .range { margin: 12px 0 6px; }
    .range button, .actions button, #tokenform button, #jobsearch button, #panel button, .deadq button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); background: var(--card); border-radius: 4px; cursor: pointer; }
    .range button.on { background: var(--ink); color: #fff; }
    #queues { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
    .card.alerting { border: 2px solid var(--red); }
    .card h3 { margin: 0 0 6px; font-size: 16px; display: flex; gap: 8px; align-items: center; }
    .badge { font-size: 11px; padding: 1px 6px; border-radius: 10px; background: var(--grey); color: #fff; text-transform: uppercase; }
    .badge.paused { background: var(--amber); }
    .badge.alert, .badge.unreadable { background: var(--red); }
    .card.unreadable { border: 2px solid var(--red); }
    .card p.unreadable { margin: 4px 0; padding: 6px 8px; background: #fdecea; border-radius: 4px; overflow-wrap: anywhere; }
    .stats { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4px 10px; margin: 6px 0; }
    .stats div span { display: block; font-size: 11px; color: var(--muted); }
    .stats div b { font-size: 16px; font-variant-numeric: tabular-nums; }
    .legend { font-size: 12px; color: var(--muted); display: flex; gap: 12px; flex-wrap: wrap; }
    .legend i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 4px; }
    .lg-pending { background: #1565c0; } .lg-workers { background: #2e7d32; } .lg-target { background: #b26a00; } .lg-scale { background: #9e9e9e; }
    .actions { margin-top: 8px; display: flex; gap: 6px; flex-wrap: wrap; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; background: var(--card); }
    th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; font-variant-numeric: tabular-nums; }
    tr.hot td { background: #fdecea; }
    #events { list-style: none; padding: 0; margin: 0; font-family: ui-monospace, monospace; font-size: 12px; }
    #events li { padding: 3px 0; border-bottom: 1px dotted var(--line); overflow-wrap: anywhere; }
    svg.chart { width: 100%; height: auto; display: block; touch-action: pan-y; }
    svg.chart text { font: 10px system-ui, sans-serif; fill: #6b6b70; }
    svg.chart .grid { stroke: #ececea; }
    svg.chart .axis { stroke: #b8b8b4; }
    .readout { min-height: 18px; font-size: 12px; font-variant-numeric: tabular-nums; color: var(--muted); }
    .readout.on { color: var(--ink); }
    #jobsearch { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
    #jobid { width: 18em; max-width: 60vw; font: inherit; padding: 2px 6px; }
    .notice { margin: 10px 0; padding: 8px 12px; border-radius: 6px; background: #e8f5e9; border-left: 4px solid var(--green); }
    #alerts .none { margin: 4px 0; }
    .deadq { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin-bottom: 12px; }
    .deadq h3 { margin: 0 0 6px; font-size: 15px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
    .deadq tbody tr { cursor: pointer; }
    .deadq tbody tr:hover td, .deadq tbody tr.open td { background: #eef3fb; }
    .deadq td.err { max-width: 42em; overflow: hidden; text-overflow: ellipsis; }
    .deadq td.id, #panel .id { font-family: ui-monospace, monospace; font-size: 12px; }
    .deadq .more { margin-top: 6px; }
    #panel { position: fixed; top: 0; right: 0; bottom: 0; width: min(560px, 100vw); overflow: auto; background: var(--card);
             border-left: 1px solid var(--line); box-shadow: -4px 0 16px rgba(0,0,0,.12); padding: 12px 16px; z-index: 10; }
    #panel .head { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
    #panel h2 { margin: 0; overflow-wrap: anywhere; }
    #panel h3 { font-size: 13px; margin: 14px 0 4px; }
    #panel dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
    #panel dt { color: var(--muted); }
    #panel dd { margin: 0; overflow-wrap: anywhere; }
    #panel pre { margin: 0; padding: 8px; background: #f3f3f1; border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 40vh; overflow: auto; font-size: 12px; }
    .state { font-weight: 600; }
    .state.done { color: var(--green); } .state.dead { color: var(--red); } .state.retry { color: var(--amber); }
    meter { width: 80px; vertical-align: middle; margin-right: 6px; }
    @media (max-width: 480px) { body { padding: 8px; } .stats { grid-template-columns: repeat(2, 1fr); } #queues { grid-template-columns: 1fr; } }
    """#
}
