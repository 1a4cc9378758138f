/** What a restored system prints on its console once it is up, unless told otherwise: a login prompt. */
export const DEFAULT_EXPECT = /login:/;
