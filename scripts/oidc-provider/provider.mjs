// A real OpenID Connect provider for the admin console's OIDC sign-in test: the npm package
// oidc-provider (OpenID Certified), with its development login screens (any password; the
// login name becomes the user's `sub` and `preferred_username`). Never for production.
//
// Environment: PORT (on 127.0.0.1), CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (the console's
// /oidc/callback, and the sync server's /v1/oidc/callback: comma-separated). Prints "listening <issuer>" when ready.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URI.split(','),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id };
      },
    };
  },
  // A first-party client: no consent screen, the scopes asked for are granted.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile');
    await grant.save();
    return grant;
  },
  // The ID token carries the profile claims (the console reads preferred_username there).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
