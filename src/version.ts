/** ASL's version, recorded in every receipt. Keep in step with package.json. */
export const VERSION = '0.1.0';
