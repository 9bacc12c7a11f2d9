import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Synchronizer tokens bound to the session: HMAC of the session token under the server's secret. A
 * forged cross-site post carries the session cookie but cannot know the token.
 */
export class CsrfTokens {
  constructor(private readonly secret: string) {}

  forSession(sessionToken: string): string {
    return createHmac('sha256', this.secret).update(`csrf:${sessionToken}`).digest('base64url');
  }

  matches(sessionToken: string, presented: unknown): boolean {
    if (typeof presented !== 'string' || presented.length > 128) return false;
    const expected = Buffer.from(this.forSession(sessionToken));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
