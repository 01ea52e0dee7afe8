// The pages behind the links in identity's mails, in a real browser (Debian's chromium,
// driven by playwright-core): opens a link as a person would and uses the page with labels
// and buttons only. Saves a screenshot of every page it sees into <dir> and prints one JSON
// line per page: {page, url, heading, errors, screenshot}.
//
//   NODE_PATH=<node_modules> node scripts/browser/mail-pages.cjs verify <link> <dir> <email>
//   NODE_PATH=<node_modules> node scripts/browser/mail-pages.cjs reset <link> <dir> <email> <new password>
//
// Each phase then opens its link again (now used: the page says so at once) and asks for a
// new one there.
//
// CHROMIUM names the browser (default /usr/bin/chromium).
"use strict";
const path = require("node:path");
const { chromium } = require("playwright-core");

async function main() {
  const [phase, link, dir, email, newPassword] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // CI runs as root, where chromium's sandbox cannot start.
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage();
    const seen = async (name) => {
      const screenshot = path.join(dir, `${name}.png`);
      await page.screenshot({ path: screenshot, fullPage: true });
      const errors = await page.locator(".error").allTextContents();
      console.log(
        JSON.stringify({
          page: name,
          url: page.url(),
          heading: await page.locator("h1").textContent(),
          errors,
          screenshot,
        }),
      );
    };
    const open = async () => {
      await page.goto(link, { waitUntil: "load" });
      // The page's script takes the token out of the address bar once loaded.
      await page.waitForFunction(() => window.location.search === "");
    };
    const press = (name) =>
      Promise.all([page.waitForNavigation(), page.getByRole("button", { name }).click()]);
    await open();
    if (phase === "verify") {
      await seen("verify-email");
      await Promise.all([
        page.waitForNavigation(),
        page.getByRole("button", { name: "Confirm my email" }).click(),
      ]);
      await seen("verify-email-done");
      // Opened again: the page says at once that it no longer works.
      await open();
      await seen("verify-email-used");
      await page.getByLabel("Email address").fill(email);
      await press("Send me a new link");
      await seen("verify-email-resent");
    } else if (phase === "reset") {
      await seen("reset-password");
      // A password the policy refuses: the error is shown next to its field.
      await page.getByLabel("New password", { exact: true }).fill("short");
      await page.getByLabel("New password, again").fill("short");
      await Promise.all([
        page.waitForNavigation(),
        page.getByRole("button", { name: "Set my new password" }).click(),
      ]);
      await seen("reset-password-refused");
      await page.getByLabel("New password", { exact: true }).fill(newPassword);
      await page.getByLabel("New password, again").fill(newPassword);
      await Promise.all([
        page.waitForNavigation(),
        page.getByRole("button", { name: "Set my new password" }).click(),
      ]);
      await seen("reset-password-done");
      await open();
      await seen("reset-password-used");
      await page.getByLabel("Email address").fill(email);
      await press("Send me a reset link");
      await seen("reset-password-requested");
    } else {
      throw new Error(`unknown phase ${phase}`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
