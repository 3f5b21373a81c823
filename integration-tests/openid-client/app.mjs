// An independent relying party for the black-box tests: panva's openid-client (npm).
// Usage: node app.mjs ISSUER CLIENT_ID SECRET REDIRECT_URI
// Protocol on stdin/stdout, one JSON line each way:
//   in  {"params": {...extra authorization parameters (prompt, max_age, login_hint)...}}
//   out {"authorize": URL}                      — the test's browser goes there
//   in  CALLBACK_URL                            — where Passerelle sent the browser back
//   out {"claims": {...}, "userinfo": {...}}    — after code + PKCE, ID token validation
//   out {"error": "...", "code": "..."}        — anything openid-client (or the acr check)
//                                                 refused; code: the OAuth error, if any
// An app that asks for acr_values checks the ID token's acr is one of them (openid-client
// leaves that to the app, as REFEDS MFA asks of every relying party).
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, secret, redirectUri] = process.argv.slice(2);
const config = await client.discovery(
  new URL(issuer), clientId, { client_secret: secret }, client.ClientSecretBasic(secret),
  { execute: [client.allowInsecureRequests] },
);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
for (;;) {
  const request = await lines.next();
  if (request.done) break;
  try {
    const { params } = JSON.parse(request.value);
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid email profile academic',
      code_challenge: challenge, code_challenge_method: 'S256', nonce, state, ...params,
    });
    console.log(JSON.stringify({ authorize: url.href }));
    const callback = await lines.next();
    const tokens = await client.authorizationCodeGrant(config, new URL(callback.value.trim()), {
      pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (params.acr_values && !String(params.acr_values).split(' ').includes(claims.acr)) {
      throw new Error(`acr ${claims.acr} is not one of those asked for (${params.acr_values})`);
    }
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    console.log(JSON.stringify({ claims, userinfo, id_token: tokens.id_token }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e && e.message || e), code: e && e.error }));
  }
}
