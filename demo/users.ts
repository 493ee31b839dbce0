import { timingSafeEqual } from 'node:crypto';

export interface DemoUser {
  username: string;
  groups: string[];
}

/** docs/contract.md §7: three users, one exempt staff member, one admin. Each password is the name + "-password". */
export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'alice', groups: ['user'] },
  { username: 'bob', groups: ['user'] },
  { username: 'carol', groups: ['user'] },
  { username: 'dave', groups: ['staff'] },
  { username: 'admin', groups: ['admin'] },
];

export function checkPassword(username: string, password: string): DemoUser | null {
  const user = DEMO_USERS.find((u) => u.username === username);
  const expected = Buffer.from(`${username}-password`);
  const given = Buffer.from(password);
  // Constant-time comparison, even in a demo: it is what readers copy.
  const ok = given.length === expected.length && timingSafeEqual(given, expected);
  return user && ok ? user : null;
}

export function findUser(username: string): DemoUser | undefined {
  return DEMO_USERS.find((u) => u.username === username);
}
