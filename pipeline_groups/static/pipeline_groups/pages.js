// Which group rows are open lives in a cookie, so the server renders polled rows
// (and the page after a run starts) the way the reader left them. The cookie is
// "all" or "none" followed by the group ids that are the exception: "none~01J..".
(function () {
  "use strict";

  var COOKIE = "spine_rows";

  function readState() {
    var match = document.cookie.match(/(?:^|;\s*)spine_rows=([^;]*)/);
    var parts = (match ? match[1] : "none").split("~");
    return { all: parts[0] === "all", except: new Set(parts.slice(1).filter(Boolean)) };
  }

  function writeState(state) {
    var value = [state.all ? "all" : "none"].concat(Array.from(state.except)).join("~");
    document.cookie = COOKIE + "=" + value + "; path=/; SameSite=Lax; max-age=31536000";
  }

  function isOpen(state, id) {
    return state.all !== state.except.has(id);
  }

  function show(group, open) {
    var button = group.querySelector("[data-toggle-group]");
    if (button) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    group.querySelectorAll("tr.step-row").forEach(function (row) {
      row.hidden = !open;
    });
  }

  function applyState(root) {
    var state = readState();
    root.querySelectorAll("tbody[data-group-id]").forEach(function (group) {
      show(group, isOpen(state, group.dataset.groupId));
    });
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle-group]");
    if (toggle) {
      var group = toggle.closest("tbody[data-group-id]");
      var state = readState();
      var id = group.dataset.groupId;
      var open = !isOpen(state, id);
      if (state.except.has(id)) { state.except.delete(id); } else { state.except.add(id); }
      writeState(state);
      show(group, open);
      return;
    }
    var every = event.target.closest("[data-expand-all]");
    if (every) {
      writeState({ all: every.dataset.expandAll === "open", except: new Set() });
      applyState(document);
    }
  });

  // Polling replaces whole regions; keep open <details> open across the swap.
  var openDetails = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    openDetails = Array.from(event.detail.target.querySelectorAll("details[id][open]"))
      .map(function (element) { return element.id; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    openDetails.forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.open = true; }
    });
    applyState(document);
  });
})();
