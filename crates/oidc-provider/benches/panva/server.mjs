// The yardstick: panva's oidc-provider (npm) serving client_credentials on PORT, with its
// default in-memory adapter. Started by benches/token-load.sh; not part of the product.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 8282);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-0123456789-abcdefghij',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
});
provider.listen(port, () => console.log(`ready http://127.0.0.1:${port}`));
