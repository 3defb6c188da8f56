// The form of an emailed link (set or reset a password, accept an invitation): it sends one
// GraphQL mutation to this server and shows its typed result in plain words.
"use strict";

(function () {
  // The link's token is already in the form (a hidden field). Take it out of the address bar and
  // of this history entry, so that it is not shown, bookmarked or handed on from here.
  if (window.location.search) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  const form = document.querySelector("form.link-form");
  if (!form) {
    return;
  }

  const MUTATIONS = {
    resetPassword: {
      query: "mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) {" +
        " __typename ... on AcceptedPayload { message } ... on MutationError { code message field } } }",
      fields: ["token", "newPassword"],
    },
    acceptInvitation: {
      query: "mutation AcceptInvitation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {" +
        " __typename ... on UserPayload { user { email } } ... on MutationError { code message field } } }",
      fields: ["token", "firstName", "lastName", "password"],
    },
  };
  const UNREACHABLE = "Procura could not be reached. Check your connection and try again.";
  const FAILED = "Something went wrong on our side; nothing was changed. Try again in a moment.";

  const name = form.dataset.mutation;
  const mutation = MUTATIONS[name];
  const button = form.querySelector("button[type=submit]");
  const formError = form.querySelector(".form-error");
  const done = document.querySelector(".done");

  function show(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    for (const error of form.querySelectorAll(".field-error")) {
      error.hidden = true;
      error.textContent = "";
    }
    for (const input of form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
    }
  }

  // Words for the codes a person can act on; the API's own message says what exactly to change.
  function explain(error) {
    switch (error.code) {
      case "WEAK_PASSWORD":
        return "Choose a stronger password: " + lowerFirst(error.message) + ".";
      case "INVALID_CREDENTIALS":
        return "You already have a Procura account: give its password.";
      case "INVALID_INPUT":
        return error.message + ".";
      default:
        return error.message;
    }
  }

  function lowerFirst(text) {
    return text.charAt(0).toLowerCase() + text.slice(1);
  }

  function showError(error) {
    if (error.code === "INVALID_TOKEN") {
      // The link is spent or expired: the form can do nothing more.
      form.hidden = true;
      show(done, "This link has expired or has already been used. " + form.dataset.expired);
      done.classList.replace("notice-success", "notice-error");
      done.setAttribute("role", "alert");
      return;
    }
    const input = error.field ? form.querySelector("#" + CSS.escape(error.field)) : null;
    if (input && input.type !== "hidden") {
      input.setAttribute("aria-invalid", "true");
      show(form.querySelector("#" + CSS.escape(error.field + "-error")), explain(error));
      input.focus();
    } else {
      show(formError, explain(error));
    }
  }

  function succeed(result) {
    const email = result.user ? result.user.email : "";
    form.hidden = true;
    show(done, form.dataset.done.replace("{email}", email));
    done.focus();
  }

  async function send() {
    const input = {};
    for (const field of mutation.fields) {
      input[field] = form.elements[field].value;
    }
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ query: mutation.query, variables: { input: input } }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (_) {
      show(formError, UNREACHABLE);
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // not JSON: a proxy's error page, for instance
    }
    const result = body && body.data ? body.data[name] : null;
    if (!result) {
      show(formError, FAILED);
    } else if (result.__typename === "MutationError") {
      showError(result);
    } else {
      succeed(result);
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (button.disabled) {
      return;
    }
    clearErrors();
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await send();
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  for (const toggle of form.querySelectorAll("input[data-shows]")) {
    toggle.addEventListener("change", function () {
      form.elements[toggle.dataset.shows].type = toggle.checked ? "text" : "password";
    });
  }

  done.tabIndex = -1;
  form.hidden = false;
})();
