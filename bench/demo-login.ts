/**
 * Signs in to the demo as one of its users (demo/users.ts: password `<name>-password`) and
 * returns the token, which the demo's other servers accept too when they share DEMO_SECRET.
 */
export async function demoLogin(url: string, username: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { token session { id } } }',
      variables: { u: username, p: `${username}-password` },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { data?: { login?: { token: string } }; errors?: unknown[] };
  if (!body.data?.login?.token) throw new Error(`demo login as ${username} failed: ${JSON.stringify(body)}`);
  return body.data.login.token;
}
