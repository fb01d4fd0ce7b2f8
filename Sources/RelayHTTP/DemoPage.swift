// DemoPage: GET /demo, a small chat page over the echo worker. It holds no secret: open it as
// /demo?session=<externalId or id>&token=<publicAccessToken> (the create response gives both).
// It appends to .in with the token and reads .out with EventSource and ?token=.
// ?message=... sends one message on load; with &once=1 the page stops listening after the first
// answer (scripted checks: a headless browser's --dump-dom waits until the network is idle).
enum DemoPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>relay demo</title>
    <style>
      body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
      #messages { list-style: none; padding: 0; }
      #messages li { padding: .3rem .5rem; margin: .2rem 0; border-radius: .3rem; background: #eef; }
      #messages li.mine { background: #efe; text-align: right; }
      #status { color: #666; font-size: 13px; }
      form { display: flex; gap: .5rem; } input { flex: 1; padding: .4rem; }
    </style>
    </head>
    <body>
    <h1>relay demo</h1>
    <p id="status">connecting…</p>
    <ul id="messages"></ul>
    <form id="send"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
    <script>
    const params = new URLSearchParams(location.search);
    const session = params.get("session"), token = params.get("token");
    const status = document.getElementById("status"), list = document.getElementById("messages");
    function show(text, mine) {
      const li = document.createElement("li");
      li.textContent = text;
      if (mine) li.className = "mine";
      list.appendChild(li);
    }
    async function send(text) {
      show(text, true);
      const response = await fetch(`/realtime/v1/sessions/${encodeURIComponent(session)}/in/append`, {
        method: "POST",
        headers: { "Authorization": `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ type: "user-message", text }),
      });
      if (!response.ok) status.textContent = `send failed: ${response.status}`;
    }
    if (!session || !token) {
      status.textContent = "open this page as /demo?session=<externalId>&token=<publicAccessToken>";
    } else {
      const url = `/realtime/v1/sessions/${encodeURIComponent(session)}/out?token=${encodeURIComponent(token)}&timeoutSeconds=600`;
      const events = new EventSource(url);
      events.onopen = () => { status.textContent = "connected"; };
      events.onerror = () => { status.textContent = "reconnecting…"; };
      events.onmessage = (event) => {
        const record = JSON.parse(event.data);
        const data = record.data;
        show(typeof data === "string" ? data : (data && data.text) || JSON.stringify(data), false);
        if (params.get("once")) { events.close(); status.textContent = "done"; }
      };
      events.addEventListener("control", () => {});
      document.getElementById("send").addEventListener("submit", (event) => {
        event.preventDefault();
        const input = document.getElementById("text");
        if (input.value) { send(input.value); input.value = ""; }
      });
      const first = params.get("message");
      if (first) events.addEventListener("open", () => send(first), { once: true });
    }
    </script>
    </body>
    </html>
    """#
}
