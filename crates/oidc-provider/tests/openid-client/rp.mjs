// An independent relying party: panva's openid-client (npm) completes authorization code
// + PKCE against the provider under test, validates the ID token and calls userinfo.
// Usage: node rp.mjs ISSUER CLIENT_ID SECRET ALG REDIRECT_URI [ACR_VALUES [LOGIN_HINT]]
// With ACR_VALUES, the app asks for them and checks the ID token's acr is one of them
// (openid-client leaves that check to the app); an error answer is printed as {error}.
import * as client from 'openid-client';

const [issuer, clientId, secret, alg, redirectUri, acrValues, loginHint] = process.argv.slice(2);
const config = await client.discovery(
  new URL(issuer),
  clientId,
  { client_secret: secret, id_token_signed_response_alg: alg },
  client.ClientSecretBasic(secret),
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid email profile academic',
  code_challenge: challenge,
  code_challenge_method: 'S256',
  nonce,
  state,
  ...(acrValues ? { acr_values: acrValues } : {}),
  ...(loginHint ? { login_hint: loginHint } : {}),
});
// The provider's stand-in login answers at once with a redirect to the app.
const answer = await fetch(url, { redirect: 'manual' });
const location = answer.headers.get('location');
if (!location) throw new Error(`authorize answered ${answer.status} without a redirect`);
let tokens;
try {
  tokens = await client.authorizationCodeGrant(config, new URL(location), {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
} catch (e) {
  if (e && e.error) {
    console.log(JSON.stringify({ error: e.error }));
    process.exit(0);
  }
  throw e;
}
const claims = tokens.claims();
if (acrValues && !acrValues.split(' ').includes(claims.acr)) {
  throw new Error(`acr ${claims.acr} is not one of those asked for (${acrValues})`);
}
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({
  sub: claims.sub,
  email: info.email,
  affiliation: info.eduperson_affiliation,
  amr: claims.amr,
  acr: claims.acr,
  refreshed: typeof refreshed.access_token === 'string',
}));
