// DemoPage: GET /demo, a small chat page over the echo worker, built on the browser client
// (/client.js). It holds no secret: open it as
// /demo?session=<externalId or id>&token=<publicAccessToken> (the create response gives both).
// It subscribes to .out with the client's subscribe() (which resumes from the last id and
// switches to the token of each turn-complete) and sends with append() (retried with one
// X-Part-Id). It shows the connection status and the last id seen.
// ?message=... sends one message once the stream is live; with &once=1 the page stops listening
// after the first answer (scripted checks: a headless browser's --dump-dom waits until the
// network is idle).
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
      #messages li.control { background: none; color: #888; font-size: 12px; text-align: center; }
      #bar { color: #666; font-size: 13px; display: flex; gap: 1rem; }
      #status[data-status="live"] { color: #080; } #status[data-status="ended"] { color: #a00; }
      form { display: flex; gap: .5rem; } input { flex: 1; padding: .4rem; }
    </style>
    </head>
    <body>
    <h1>relay demo</h1>
    <p id="bar"><span>status: <b id="status" data-status="connecting">connecting</b></span>
      <span>last id: <b id="last-id">none</b></span> <span id="note"></span></p>
    <ul id="messages"></ul>
    <form id="send"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
    <script type="module">
    import { subscribe, append } from "/client.js";

    const params = new URLSearchParams(location.search);
    const session = params.get("session");
    const $ = (id) => document.getElementById(id);
    const list = $("messages");
    function show(text, className) {
      const li = document.createElement("li");
      li.textContent = text;
      if (className) li.className = className;
      list.appendChild(li);
    }
    function setStatus(status, detail) {
      $("status").textContent = status;
      $("status").dataset.status = status;
      $("note").textContent = detail || "";
    }

    if (!session || !params.get("token")) {
      setStatus("ended", "open this page as /demo?session=<externalId>&token=<publicAccessToken>");
    } else {
      let sent = false;
      const sub = subscribe(session, {
        channel: "out",
        token: params.get("token"),
        onRecord(data, record) {
          $("last-id").textContent = record.id;
          show(typeof data === "string" ? data : (data && data.text) || JSON.stringify(data));
          if (params.get("once")) sub.close();
        },
        onControl(control, record) {
          $("last-id").textContent = record.id;
          show(control.subtype === "turn-complete" ? "turn complete" : `control: ${control.subtype}`, "control");
        },
        onStatus(status, info) {
          setStatus(status, status === "ended" ? info.reason : status === "reconnecting" ? `attempt ${info.attempt + 1}` : "");
          if (status === "live" && !sent && params.get("message")) {
            sent = true;
            send(params.get("message"));
          }
        },
      });
      async function send(text) {
        show(text, "mine");
        try {
          // The subscription's token: the latest one a turn-complete handed over.
          await append(session, "in", { type: "user-message", text }, { token: sub.token });
        } catch (error) {
          $("note").textContent = `send failed: ${error.status || ""} ${error.message}`;
        }
      }
      $("send").addEventListener("submit", (event) => {
        event.preventDefault();
        const input = $("text");
        if (input.value) { send(input.value); input.value = ""; }
      });
    }
    </script>
    </body>
    </html>
    """#
}
