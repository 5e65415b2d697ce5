// minqing simulator page. Vanilla JS; every piece of user or bot text goes through
// textContent (never HTML parsing), and links are limited to http(s) URLs.
"use strict";

(() => {
  const demo = JSON.parse(document.getElementById("demo-data").textContent || "{}");
  const $ = (id) => document.getElementById(id);

  const view = {
    seq: 0,
    openid: null,
    chatSeq: 0,
    chatid: null,
    groupSeq: 0,
    robotSeq: 0,
    staffUser: null,
    staffSeq: 0,
    qrcodes: [],
  };

  // ---- DOM helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function safeUrl(url) {
    if (!url) return null;
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_error) {
      return null;
    }
  }

  function link(url, text) {
    const href = safeUrl(url);
    if (!href) return el("span", {}, text || url || "");
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text || url);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function scrollToEnd(node) {
    node.scrollTop = node.scrollHeight;
  }

  function timeOf(entry) {
    if (!entry.at) return "";
    const date = new Date(entry.at);
    return date.toLocaleString();
  }

  function mediaUrl(mediaId) {
    return "/sim/media/" + encodeURIComponent(mediaId);
  }

  // Strip tags from WeCom textcard descriptions (<div class="gray">…</div>) into plain lines.
  function plainFromHtml(text) {
    return String(text || "")
      .replace(/<br\s*\/?>/gi, "\n")
      .replace(/<\/div>/gi, "\n")
      .replace(/<[^>]*>/g, "")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, "&")
      .replace(/\n{2,}/g, "\n")
      .trim();
  }

  // A small, safe renderer for WeCom markdown: headings, quotes, **bold**, `code`,
  // [text](url) and <font color="info|comment|warning">…</font>.
  const INLINE = /(\*\*[^*]+\*\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\)|<font color="(?:info|comment|warning)">[\s\S]*?<\/font>)/g;

  function inline(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parts.push(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (token.startsWith("**")) {
        parts.push(el("strong", {}, token.slice(2, -2)));
      } else if (token.startsWith("`")) {
        parts.push(el("code", {}, token.slice(1, -1)));
      } else if (token.startsWith("[")) {
        const close = token.indexOf("](");
        parts.push(link(token.slice(close + 2, -1), token.slice(1, close)));
      } else {
        const color = /color="(\w+)"/.exec(token)[1];
        const inner = token.replace(/^<font[^>]*>/, "").replace(/<\/font>$/, "");
        parts.push(el("span", { class: "font-" + color }, ...inline(inner)));
      }
      last = match.index + token.length;
    }
    if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
    return parts;
  }

  function markdown(text) {
    const box = el("div", { class: "markdown" });
    for (const line of String(text || "").split("\n")) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      if (heading) box.append(el("h4", {}, ...inline(heading[2])));
      else if (line.startsWith(">")) box.append(el("blockquote", {}, ...inline(line.replace(/^>\s?/, ""))));
      else box.append(el("p", {}, ...inline(line)));
    }
    return box;
  }

  // ---- API ---------------------------------------------------------------------------------

  async function api(method, path, body) {
    const options = { method, headers: {} };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (_error) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.error) || response.status + " " + response.statusText;
      throw new Error(message);
    }
    return data;
  }

  function showStatus(node, text, isError) {
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  function describeReport(report) {
    const tries = report.attempts.map((attempt) =>
      attempt.status === 200
        ? "200 in " + Math.round(attempt.elapsed_ms) + " ms"
        : (attempt.error || "HTTP " + attempt.status) + " (" + Math.round(attempt.elapsed_ms) + " ms)"
    );
    let text = (report.delivered ? "✓ " : "✗ not delivered: ") + tries.join(" → ");
    if (report.delivered && !report.passive_reply) text += " · no passive reply";
    if (report.reply_error) text += " · reply refused: " + report.reply_error;
    return { text, error: !report.delivered || Boolean(report.reply_error) };
  }

  // ---- residents ---------------------------------------------------------------------------

  let nicknameIndex = 0;

  function nextNickname() {
    const typed = $("new-nickname").value.trim();
    if (typed) return typed;
    const names = demo.nicknames || [];
    if (!names.length) return undefined;
    return names[nicknameIndex++ % names.length];
  }

  async function createResident() {
    const resident = await api("POST", "/sim/api/residents", { nickname: nextNickname() });
    $("new-nickname").value = "";
    selectResident(resident.openid);
    await refresh();
  }

  async function ensureResident() {
    if (!view.openid) await createResident();
    return view.openid;
  }

  function selectResident(openid) {
    if (view.openid === openid) return;
    view.openid = openid;
    view.chatSeq = 0;
    clear($("chat"));
    $("phone-openid").textContent = openid || "";
    showStatus($("send-status"), "", false);
  }

  async function sendAsResident(body) {
    const status = $("send-status");
    try {
      const openid = await ensureResident();
      showStatus(status, "… posting to the bot", false);
      const report = await api("POST", "/sim/api/residents/" + encodeURIComponent(openid) + "/messages", body);
      const summary = describeReport(report);
      showStatus(status, summary.text, summary.error);
    } catch (error) {
      showStatus(status, "✗ " + error.message, true);
    }
    await refresh();
  }

  async function sendFile(file, expectedKind) {
    const status = $("send-status");
    try {
      const openid = await ensureResident();
      const form = new FormData();
      form.append("file", file, file.name);
      showStatus(status, "… uploading " + file.name, false);
      const uploaded = await api("POST", "/sim/api/residents/" + encodeURIComponent(openid) + "/media", form);
      if (expectedKind && uploaded.kind !== expectedKind) {
        throw new Error("expected " + expectedKind + " but got " + uploaded.kind);
      }
      await sendAsResident({ type: uploaded.kind, media_id: uploaded.media_id });
    } catch (error) {
      showStatus(status, "✗ " + error.message, true);
    }
  }

  async function scan(body) {
    const status = $("send-status");
    try {
      const openid = await ensureResident();
      const report = await api("POST", "/sim/api/residents/" + encodeURIComponent(openid) + "/scan", body);
      const summary = describeReport(report);
      showStatus(status, report.event + " " + report.event_key + " · " + summary.text, summary.error);
    } catch (error) {
      showStatus(status, "✗ " + error.message, true);
    }
    await refresh();
  }

  // ---- rendering ---------------------------------------------------------------------------

  const CHANNEL_LABELS = {
    passive: "被动回复 passive",
    custom: "客服 custom",
    template: "模板 template",
    api: "应用 app",
    appchat: "群 group",
    robot: "机器人 robot",
  };

  function badge(channel) {
    return el("span", { class: "badge " + channel }, CHANNEL_LABELS[channel] || channel);
  }

  function renderBody(entry) {
    switch (entry.msgtype) {
      case "text":
        return el("div", { class: "bubble" }, entry.content || "");
      case "image":
        return el("div", { class: "bubble" }, el("img", { src: mediaUrl(entry.media_id), alt: "image" }));
      case "voice":
        return el(
          "div",
          { class: "bubble" },
          // AMR does not play in browsers: the simulator keeps a playable preview of it.
          el("audio", { controls: "", preload: "none", src: mediaUrl(entry.preview_media_id || entry.media_id) }),
          entry.content ? el("div", { class: "small muted" }, entry.content) : null
        );
      case "video":
        return el(
          "div",
          { class: "bubble" },
          el("video", { controls: "", preload: "none", width: "220", src: mediaUrl(entry.media_id) }),
          entry.title || ""
        );
      case "location":
        return el(
          "div",
          { class: "bubble" },
          "📍 " + (entry.content || ""),
          el("div", { class: "small muted" }, entry.latitude + ", " + entry.longitude)
        );
      case "link":
        return el(
          "div",
          { class: "card" },
          el("div", { class: "title" }, link(entry.url, entry.title || entry.url)),
          el("div", { class: "desc" }, entry.description || "")
        );
      case "news":
        return el(
          "div",
          { class: "card" },
          ...(entry.articles || []).map((article) =>
            el(
              "div",
              {},
              el("div", { class: "title" }, link(article.url, article.title || article.url)),
              el("div", { class: "desc" }, article.description || "")
            )
          )
        );
      case "music":
        return el("div", { class: "card" }, "♪ ", link(entry.url, entry.title || entry.url));
      case "msgmenu":
        return el(
          "div",
          { class: "card" },
          el("div", { class: "desc" }, entry.content || ""),
          el(
            "div",
            { class: "menu-options" },
            ...(entry.menu || []).map((option) =>
              el(
                "button",
                {
                  type: "button",
                  onclick: () =>
                    sendAsResident({ type: "text", content: option.content, bizmsgmenuid: option.id }),
                },
                option.content
              )
            )
          ),
          entry.tail_content ? el("div", { class: "desc" }, entry.tail_content) : null
        );
      case "template": {
        const rows = Object.entries(entry.fields || {}).map(([name, value]) =>
          el("tr", {}, el("td", {}, name), el("td", {}, value))
        );
        return el(
          "div",
          { class: "card" },
          el("div", { class: "title" }, entry.template_id || "template"),
          el("table", { class: "fields" }, el("tbody", {}, ...rows)),
          entry.url ? el("div", { class: "footer" }, link(entry.url, "详情 · details →")) : null
        );
      }
      case "textcard":
        return el(
          "div",
          { class: "card" },
          el("div", { class: "title" }, entry.title || ""),
          el("div", { class: "desc" }, plainFromHtml(entry.description)),
          el("div", { class: "footer" }, link(entry.url, (entry.btntxt || "详情") + " →"))
        );
      case "markdown":
        return el("div", { class: "bubble" }, markdown(entry.content));
      case "event":
        return el("div", { class: "bubble" }, "⚡ " + (entry.content || "event") + (entry.key ? " · " + entry.key : ""));
      default:
        return el("div", { class: "bubble" }, entry.content || entry.msgtype);
    }
  }

  function renderEntry(entry) {
    const outgoing = entry.direction === "out" || entry.direction === "to_app";
    const system = entry.msgtype === "event";
    const side = system ? "system" : outgoing ? "out" : "in";
    const meta = el("div", { class: "meta" }, outgoing || system ? null : badge(entry.channel), timeOf(entry));
    return el("div", { class: "msg " + side, "data-seq": entry.seq }, meta, renderBody(entry));
  }

  function appendEntries(container, entries) {
    if (!entries.length) return;
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
    for (const entry of entries) container.append(renderEntry(entry));
    if (atBottom || entries.length) scrollToEnd(container);
  }

  function fillSelect(select, items, selected, labelOf, valueOf) {
    const values = items.map(valueOf);
    const current = Array.from(select.options).map((option) => option.value);
    const labels = items.map(labelOf);
    const currentLabels = Array.from(select.options).map((option) => option.textContent);
    if (JSON.stringify(values) !== JSON.stringify(current) || JSON.stringify(labels) !== JSON.stringify(currentLabels)) {
      clear(select);
      items.forEach((item, index) => select.append(el("option", { value: values[index] }, labels[index])));
    }
    if (selected !== null && values.includes(selected)) select.value = selected;
  }

  // ---- refresh -----------------------------------------------------------------------------

  async function refreshResidents() {
    const residents = await api("GET", "/sim/api/residents");
    if (view.openid && !residents.some((r) => r.openid === view.openid)) selectResident(null);
    if (!view.openid && residents.length) selectResident(residents[0].openid);
    fillSelect(
      $("resident-select"),
      residents,
      view.openid,
      (r) => r.nickname + " · " + r.openid.slice(0, 10) + "…",
      (r) => r.openid
    );
    const current = residents.find((r) => r.openid === view.openid);
    const follow = $("follow-state");
    follow.textContent = current ? (current.following ? "已关注 following" : "未关注 not following") : "";
    follow.classList.toggle("on", Boolean(current && current.following));
    if (view.openid) {
      const entries = await api("GET", "/sim/api/residents/" + encodeURIComponent(view.openid) + "/chat?after=" + view.chatSeq);
      appendEntries($("chat"), entries);
      if (entries.length) view.chatSeq = entries[entries.length - 1].seq;
    }
  }

  async function refreshQrcodes() {
    view.qrcodes = await api("GET", "/sim/api/qrcodes");
    const select = $("qr-select");
    const previous = select.value;
    fillSelect(
      select,
      view.qrcodes,
      previous || null,
      (code) => code.scene + (code.permanent ? "" : " (temporary)"),
      (code) => code.ticket
    );
    if (!view.qrcodes.length) {
      clear(select);
      select.append(el("option", { value: "" }, "— bot created no codes yet —"));
    }
    showQrPreview();
  }

  function showQrPreview() {
    const code = view.qrcodes.find((c) => c.ticket === $("qr-select").value);
    const preview = $("qr-preview");
    const shown = preview.firstChild && preview.firstChild.getAttribute("data-ticket");
    if (code && shown === code.ticket) return;
    clear(preview);
    if (code) {
      preview.append(el("img", { src: safeUrl(code.image_url), alt: code.scene, "data-ticket": code.ticket }));
      preview.append(el("span", { class: "small muted" }, code.url));
    }
  }

  async function refreshWeCom() {
    const groups = await api("GET", "/sim/api/wecom/groups");
    if (view.chatid && !groups.some((g) => g.chatid === view.chatid)) selectGroup(null);
    if (!view.chatid && groups.length) selectGroup(groups[0].chatid);
    fillSelect($("group-select"), groups, view.chatid, (g) => g.name + " (" + g.chatid + ")", (g) => g.chatid);
    const group = groups.find((g) => g.chatid === view.chatid);
    $("group-members").textContent = group ? "owner " + group.owner + " · " + group.userlist.join(", ") : "";
    if (view.chatid) {
      const entries = await api("GET", "/sim/api/wecom/groups/" + encodeURIComponent(view.chatid) + "/messages?after=" + view.groupSeq);
      appendEntries($("group-timeline"), entries);
      if (entries.length) view.groupSeq = entries[entries.length - 1].seq;
    }
    const users = await api("GET", "/sim/api/wecom/users");
    const known = Array.from(new Set([...(demo.staff || []), ...users]));
    const list = $("staff-list");
    clear(list);
    known.forEach((user) => list.append(el("option", { value: user })));
    if (!$("staff-userid").value && known.length) {
      $("staff-userid").value = known[0];
      selectStaff(known[0]);
    }
    if (view.staffUser) {
      const entries = await api("GET", "/sim/api/wecom/users/" + encodeURIComponent(view.staffUser) + "/messages?after=" + view.staffSeq);
      appendEntries($("staff-timeline"), entries);
      if (entries.length) view.staffSeq = entries[entries.length - 1].seq;
    }
    const robot = await api("GET", "/sim/api/wecom/robot/messages?after=" + view.robotSeq);
    appendEntries($("robot-timeline"), robot);
    if (robot.length) view.robotSeq = robot[robot.length - 1].seq;
  }

  function selectGroup(chatid) {
    if (view.chatid === chatid) return;
    view.chatid = chatid;
    view.groupSeq = 0;
    clear($("group-timeline"));
  }

  function selectStaff(userid) {
    const value = (userid || "").trim() || null;
    if (view.staffUser === value) return;
    view.staffUser = value;
    view.staffSeq = 0;
    clear($("staff-timeline"));
  }

  async function refreshInfo() {
    const info = await api("GET", "/sim/api/info");
    $("info").textContent =
      "→ " + info.gateway_url + (info.safe_mode ? " (AES safe mode)" : " (plaintext)") + " · WeCom → " + info.wecom_callback_url;
    const offset = info.clock_offset_seconds;
    $("clock-offset").textContent = (offset >= 0 ? "+" : "") + formatSeconds(offset);
    const stats = await api("GET", "/sim/api/stats");
    $("violation-count").textContent = String(stats.violations.length);
    const list = $("violation-list");
    clear(list);
    for (const violation of stats.violations) {
      const { kind, at, ...details } = violation;
      list.append(el("li", {}, el("strong", {}, kind), " ", JSON.stringify(details), " ", el("span", { class: "muted" }, at)));
    }
    const faults = await api("GET", "/sim/api/faults");
    setSelectValue($("fault-wechat"), faults.faults.wechat_api);
    setSelectValue($("fault-appchat"), faults.faults.wecom_appchat);
  }

  function setSelectValue(select, value) {
    if (!Array.from(select.options).some((option) => option.value === value)) {
      select.append(el("option", { value }, value));
    }
    if (document.activeElement !== select) select.value = value;
  }

  function formatSeconds(seconds) {
    const abs = Math.abs(seconds);
    if (abs >= 86400) return (seconds / 86400).toFixed(1) + " d";
    if (abs >= 3600) return (seconds / 3600).toFixed(1) + " h";
    return Math.round(seconds) + " s";
  }

  let refreshing = null;

  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        await refreshResidents();
        await refreshQrcodes();
        await refreshWeCom();
        await refreshInfo();
      } catch (error) {
        showStatus($("send-status"), "⚠ " + error.message, true);
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function pollLoop() {
    for (;;) {
      try {
        const result = await api("GET", "/sim/api/wait?after=" + view.seq + "&timeout=20");
        if (result.seq !== view.seq) {
          view.seq = result.seq;
          await refresh();
        }
      } catch (_error) {
        await sleep(1000);
      }
    }
  }

  // ---- recording ---------------------------------------------------------------------------

  let recorder = null;

  async function toggleRecording() {
    const button = $("record");
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showStatus($("send-status"), "✗ recording is not supported here (needs http://127.0.0.1 or https)", true);
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      showStatus($("send-status"), "✗ microphone: " + error.message, true);
      return;
    }
    const types = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm", "audio/mp4"];
    const mimeType = types.find((type) => MediaRecorder.isTypeSupported(type));
    recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((track) => track.stop());
      button.textContent = "🎙 录音";
      button.classList.remove("recording");
      const type = recorder.mimeType || "audio/webm";
      const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      const file = new File(chunks, "recording." + extension, { type });
      await sendFile(file, "voice");
    });
    recorder.start();
    button.textContent = "■ 停止 stop";
    button.classList.add("recording");
  }

  // ---- wiring ------------------------------------------------------------------------------

  function wire() {
    const nicknames = $("nickname-list");
    (demo.nicknames || []).forEach((name) => nicknames.append(el("option", { value: name })));
    const presets = $("location-preset");
    (demo.locations || []).forEach((place, index) =>
      presets.append(el("option", { value: String(index) }, place.label + " (" + place.latitude + ", " + place.longitude + ")"))
    );

    $("new-resident").addEventListener("click", () => createResident().catch((e) => showStatus($("send-status"), "✗ " + e.message, true)));
    $("resident-select").addEventListener("change", (event) => {
      selectResident(event.target.value);
      refresh();
    });

    $("text-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text-input");
      const content = input.value.trim();
      if (!content) return;
      input.value = "";
      sendAsResident({ type: "text", content });
    });
    $("image-file").addEventListener("change", (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (file) sendFile(file, "image");
    });
    $("voice-file").addEventListener("change", (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (file) sendFile(file, "voice");
    });
    $("record").addEventListener("click", toggleRecording);

    $("send-preset").addEventListener("click", () => {
      const place = (demo.locations || [])[Number($("location-preset").value)];
      if (place) {
        sendAsResident({ type: "location", latitude: place.latitude, longitude: place.longitude, label: place.label });
      }
    });
    $("send-location").addEventListener("click", () => {
      const latitude = parseFloat($("loc-lat").value);
      const longitude = parseFloat($("loc-lon").value);
      if (Number.isNaN(latitude) || Number.isNaN(longitude)) {
        showStatus($("send-status"), "✗ latitude and longitude are numbers", true);
        return;
      }
      sendAsResident({ type: "location", latitude, longitude, label: $("loc-label").value.trim() });
    });

    $("qr-select").addEventListener("change", showQrPreview);
    $("scan-ticket").addEventListener("click", () => {
      const ticket = $("qr-select").value;
      if (ticket) scan({ ticket });
    });
    $("scan-scene-btn").addEventListener("click", () => {
      const scene = $("scan-scene").value.trim();
      if (scene) scan({ scene });
    });

    $("send-click").addEventListener("click", () => {
      const key = $("click-key").value.trim();
      if (key) sendAsResident({ type: "event", event: "CLICK", key });
    });
    $("send-subscribe").addEventListener("click", () => sendAsResident({ type: "event", event: "subscribe" }));
    $("send-unsubscribe").addEventListener("click", () => sendAsResident({ type: "event", event: "unsubscribe" }));

    $("group-select").addEventListener("change", (event) => {
      selectGroup(event.target.value);
      refresh();
    });
    $("staff-userid").addEventListener("change", (event) => {
      selectStaff(event.target.value);
      refresh();
    });
    $("staff-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const userid = $("staff-userid").value.trim();
      const input = $("staff-input");
      const content = input.value.trim();
      const status = $("staff-status");
      if (!userid || !content) {
        showStatus(status, "✗ choose a staff userid and type a message", true);
        return;
      }
      selectStaff(userid);
      input.value = "";
      try {
        showStatus(status, "… posting the WeCom callback", false);
        const report = await api("POST", "/sim/api/wecom/users/" + encodeURIComponent(userid) + "/messages", { content });
        const summary = describeReport(report);
        showStatus(status, summary.text, summary.error);
      } catch (error) {
        showStatus(status, "✗ " + error.message, true);
      }
      refresh();
    });

    document.querySelectorAll("[data-advance]").forEach((button) =>
      button.addEventListener("click", async () => {
        await api("POST", "/sim/api/clock", { advance_seconds: Number(button.getAttribute("data-advance")) });
        refresh();
      })
    );
    $("clock-reset").addEventListener("click", async () => {
      await api("POST", "/sim/api/clock", { reset: true });
      refresh();
    });
    $("fault-wechat").addEventListener("change", async (event) => {
      await api("POST", "/sim/api/faults", { wechat_api: event.target.value });
      refresh();
    });
    $("fault-appchat").addEventListener("change", async (event) => {
      await api("POST", "/sim/api/faults", { wecom_appchat: event.target.value });
      refresh();
    });
    $("reset-all").addEventListener("click", async () => {
      if (!window.confirm("Clear all simulator state?")) return;
      await api("POST", "/sim/api/reset", {});
      selectResident(null);
      selectGroup(null);
      view.staffSeq = 0;
      view.robotSeq = 0;
      clear($("staff-timeline"));
      clear($("robot-timeline"));
      refresh();
    });
  }

  wire();
  refresh().then(pollLoop);
})();
