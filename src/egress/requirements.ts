/**
 * Security requirements of the egress part, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const EGRESS_REQUIREMENTS = {
  'egress.deny-by-default':
    'a request no rule allows is refused with 403, X-Airlock-Denied and an explanation for the agent',
  'egress.no-dns-for-denied':
    'a denied host is never resolved, so the proxy is not a DNS exfiltration channel',
  'egress.ports': 'only ports a rule allows are reachable, for CONNECT and plain HTTP alike',
  'egress.ssrf':
    'loopback, private, link-local, metadata, CGNAT, multicast, broadcast and reserved addresses are refused, in IPv4, IPv4-mapped, NAT64 and 6to4 form, and Teredo outright',
  'egress.ssrf-all-addresses': 'a name is refused when any one of its resolved addresses is refused',
  'egress.dns-rebinding': 'a name is resolved once per request and exactly the checked address is dialled',
  'egress.ip-spelling':
    'decimal, octal and hex spellings of an IPv4 address are refused unless a CIDR rule allows the address',
  'egress.cidr-allow': 'a CIDR allow reaches exactly its range (IPv4-mapped included) and nothing else',
  'egress.host-parse':
    'hosts are normalized (case, punycode, trailing dot); NUL, userinfo, percent-escapes and other non-hostname characters are refused',
  'egress.host-match': 'host patterns match whole labels: allowed.com never matches allowed.com.evil.com',
  'egress.path-normalize':
    'paths are judged after dot-segment removal and escape normalization, and that same path is forwarded',
  'egress.sni-fronting': 'an opaque tunnel whose TLS server name differs from the CONNECT target is cut',
  'egress.inner-host': 'a request inside a tunnel whose Host differs from the CONNECT target is refused',
  'egress.tunnel-tls-only': 'a tunnel that carries neither TLS nor HTTP is cut',
  'egress.intercept-paths':
    'hosts with method/path rules are intercepted and every inner request is judged with method and path',
  'egress.intercept-sni': 'an intercepted handshake whose SNI differs from the CONNECT target fails',
  'egress.ca-key-private':
    'the session CA private key never leaves the host process; only certificates are handed out',
  'egress.credential-inject':
    'a bound credential is injected only on its hosts, methods and paths, in place of the placeholder',
  'egress.credential-plaintext':
    'a credential is never injected over plain HTTP unless its binding allows it',
  'egress.own-credential':
    'a request to a bound host carrying any other credential (header, cookie, query parameter) is refused',
  'egress.secret-echo':
    'a secret echoed by the upstream in headers or body (compressed or not) reaches the sandbox as the placeholder',
  'egress.placeholder-no-leak':
    'the real secret is in no event, no sandbox variable and no file the proxy writes',
  'egress.events':
    'every request emits an event with method, host, port, path, status, bytes, verdict, rule and duration, and never a header value or query',
  'egress.ask-timeout': 'an ask that is not answered in time, or fails, is a deny',
  'egress.decide-error': 'a policy that throws or returns garbage is a deny',
  'egress.budget-requests':
    'past the request budget, requests get 429 with an explanation and a budget event',
  'egress.budget-bytes': 'a transfer past a byte budget is cut and later requests get 429',
  'egress.budget-cost':
    'LLM token and cost budgets are read from usage fields (streaming included) and enforced with 429',
  'egress.budget-unpriced': 'a cost budget is spent when a model has no price, rather than left unbounded',
  'egress.base-url-verified': 'base-URL mode forwards only over HTTPS with a verified certificate',
  'egress.native-tunnel':
    'an opaque tunnel handed to the splice helper loses, reorders and duplicates no byte either way, reports its bytes, and is cut when the proxy closes',
  'egress.options': 'invalid or unknown options are errors that stop the session, never silently dropped',
  'egress.socket-private':
    'the proxy socket is mode 0600, a live socket is never taken over, and close removes it',
  // In a session (src/session/egress.ts), checked from inside real sandboxes.
  'egress.session-http':
    'in a session, plain HTTP to an allowed host goes through the proxy and only through it',
  'egress.session-https':
    'in a session, HTTPS to an intercepted host works with the session CA mounted inside, and the host injects the credential',
  'egress.session-method-rule':
    'in a session, a tunnel to a host whose rules look at methods or paths is intercepted and each request inside is judged by the policy',
  'egress.policy-decide':
    "a session's proxy decides with the policy part's own decide: CONNECT for opaque tunnels, method and path otherwise",
  'egress.session-ask': 'in a session with no approval queue attached, an ask verdict is a deny',
  'egress.session-policy-reload':
    "a session's proxy judges with the policy the session holds now: a rule a person grants mid-session applies from the next request",
  'egress.ask-cancelled':
    'a network ask the proxy stops waiting for (the client went away, or its own wait ran out) is ended in the approvals queue, never left pending',
  'egress.no-direct-route':
    'in a session, ignoring the proxy variables, raw TCP, UDP and DNS reach nothing outside the sandbox',
  'egress.credentials-host-only':
    'in a session, a credential resolved on the host is in no variable, file or process inside the sandbox',
  'egress.session-events':
    "every request through a session's proxy is a network.request record in its audit log, and destroy closes the proxy and removes its socket",
  'egress.session-base-url':
    "in a session, a policy base URL sets its variable inside to a plain-HTTP front that forwards over verified HTTPS with the bound credential injected; every request through it is judged by the network rules and recorded with mode base-url, and the secret is never inside",
  'egress.policy-prices':
    "a session's cost budget is priced by the policy's price table (streaming included); past it requests get 429 with an explanation and a budget.exceeded record; a model with no price spends it; a cost budget with no prices at all stops the session before it starts",
  'egress.usage-event':
    'a network.request record carries the LLM usage the proxy read from the response: model, input, output and cache tokens, and cost when the model has a price',
  'egress.session-npm':
    'in a session, npm install through the proxy from an allowed registry installs into the workspace with every GET recorded, and a registry no rule allows is refused with 403 and X-Airlock-Denied',
  'egress.cli':
    '`airlock run` and `airlock session create` start the proxy from the policy, and only when it can let anything out',
} as const;

/** A security requirement id of the egress part. */
export type EgressRequirement = keyof typeof EGRESS_REQUIREMENTS;
