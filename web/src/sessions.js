// Sessions as GET /sessions lists them, in words for the "Your sessions"
// panel.

// First match wins: Edge and Opera also say "Chrome", and Chrome also says
// "Safari".
const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\b(OPR|Opera)\//, 'Opera'],
  [/\b(Firefox|FxiOS)\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Headless Chrome'],
  [/\b(Chrome|Chromium|CriOS)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

// iOS and Android before macOS and Linux, which their user agents mention too.
const SYSTEMS = [
  [/\b(iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\b(Macintosh|Mac OS X)\b/, 'macOS'],
  [/\b(Linux|X11)\b/, 'Linux'],
];

const nameIn = (list, text) => list.find(([pattern]) => pattern.test(text))?.[1];

// "Firefox on Windows" from a User-Agent header; a client it does not know
// (curl, a script) by its product token, e.g. "curl/8.5.0"; "Unknown client"
// when none was sent.
export function describeClient(userAgent) {
  const text = String(userAgent ?? '').trim();
  if (!text) return 'Unknown client';
  const browser = nameIn(BROWSERS, text);
  const system = nameIn(SYSTEMS, text);
  if (browser && system) return `${browser} on ${system}`;
  if (browser || system) return browser ?? system;
  const product = text.split(/\s+/)[0];
  return product.length > 40 ? `${product.slice(0, 39)}…` : product;
}

// This browser's session first, then the most recently used.
export function sortSessions(sessions) {
  return [...sessions].sort(
    (a, b) =>
      Number(b.current) - Number(a.current) || Date.parse(b.last_used_at) - Date.parse(a.last_used_at),
  );
}
