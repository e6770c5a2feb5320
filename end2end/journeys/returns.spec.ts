import { test, expect, confirmAddress } from './harness';
import { codeMailFor, corpus, mailFor, messageIdOf, report, smtpAnswers } from '../tests/support';
import type { Tab } from '../engines/engines.js';

// After hand-over: what came back to the portal's return addresses shows on the status
// page, in German and in English, in every engine. The reports are real mail servers'
// (flufl.bounce's corpus), handed to the portal's listener over SMTP with the Message-ID of
// the message they are about.

const GEWERBEAMT = 'gewerbeamt@lra-musterhausen.example';
const RECEIVED = { role: 'heading', name: 'Ihre Nachricht ist eingegangen' } as const;

/** Fills the form and confirms the address; `confirmation`: asks for a receipt. */
async function write(tab: Tab, confirmation: boolean) {
  await tab.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await tab.fill({ label: 'Ihr Name' }, 'Jürgen Müller');
  await confirmAddress(tab, `returns-${Date.now()}@example.org`);
  await tab.fill({ label: 'Betreff' }, 'Rückfrage');
  await tab.fill({ label: 'Ihre Nachricht' }, 'Bitte bestätigen Sie den Eingang.');
  if (confirmation) await tab.click({ label: 'Empfangsbestätigung anfordern' });
}

/** Sends what was written; its receipt number and the status page's address. */
async function sendWritten(tab: Tab) {
  await tab.click({ role: 'button', name: 'Verschlüsselt senden' });
  await tab.see(RECEIVED, 30_000);
  const receipt = (await tab.see('.receipt-number')).text;
  const status = (await tab.see({ role: 'link', name: 'Stand der Zustellung' })).attributes.href!;
  return { receipt, status };
}

/** Sends a short message; its receipt, status page and the mail the authority got. */
async function send(tab: Tab, confirmation: boolean) {
  await write(tab, confirmation);
  const sent = await sendWritten(tab);
  return { ...sent, mail: await mailFor(sent.receipt, GEWERBEAMT) };
}

/** Opens the status page until it says `german`, then in English `english`, and back. */
async function statusSays(tab: Tab, status: string, german: RegExp, english: RegExp) {
  await tab.until(`the status ${german}`, async () => {
    await tab.goto(status);
    return (await tab.see({ text: german }, 2_000)).text;
  }, 20_000);
  await tab.click({ role: 'button', name: 'Switch to English' });
  await tab.see({ text: english });
  await tab.click({ role: 'button', name: 'Auf Deutsch umschalten' });
  await tab.see({ text: german });
}

test('a delay report, then the authority\'s program reports it deleted unread; another is reported opened, a third bounces after hand-over', async ({ tab }) => {
  const asked = await send(tab, true);
  // The mail asks the authority's program for an MDN, to the message's own return address.
  expect(asked.mail.mail_from).toMatch(/^r-[a-z2-7]{26}@return\.postsiegel\.localhost$/);
  expect(asked.mail.data.split('\r\n\r\n')[0]).toContain(`Disposition-Notification-To: <${asked.mail.mail_from}>`);
  await statusSays(tab, asked.status, /an das Postfach der Behörde übergeben/, /handed to the authority's mailbox/);
  await tab.see({ text: /Sie haben eine Empfangsbestätigung angefordert/ });

  await report(asked.mail.mail_from, corpus('dsn_06.txt', 'j4d77kvs79.fsf@informatik.hu-berlin.de', messageIdOf(asked.mail)));
  await statusSays(tab, asked.status, /dass sich die Zustellung verzögert/, /reports that delivery is delayed/);
  await tab.see({ text: /Ungeprüfte Meldung/ });
  await tab.see({ text: /Wortlaut der Meldung: 4\.4\.0/ });

  await report(asked.mail.mail_from, corpus('simple_38.txt', '2ee7df1322121930966bcc2318379726@localhost', messageIdOf(asked.mail)));
  await statusSays(tab, asked.status, /gelöscht wurde, ohne angezeigt worden zu sein/, /deleted without being displayed/);

  const opened = await send(tab, true);
  await report(opened.mail.mail_from, corpus('rfc8098/section9-displayed.eml', '199509192301.23456@example.org', messageIdOf(opened.mail)));
  await statusSays(tab, opened.status, /dass Ihre Nachricht geöffnet \(angezeigt\) wurde/, /that your message was opened \(displayed\)/);

  const bounced = await send(tab, false);
  await report(bounced.mail.mail_from, corpus('dsn_13.txt', 'mailman.8262.1143060203.1568.wed_ride@grizz.org', messageIdOf(bounced.mail)));
  await statusSays(tab, bounced.status, /Die Behörde hat sie nicht erhalten/, /the authority has not received it/);
  await tab.see({ text: /Wortlaut der Meldung: 5\.1\.1/ });
});

test('a code that bounces: the form says so at the address', async ({ tab }) => {
  const address = `nobody-${Date.now()}@example.org`;
  await tab.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await tab.fill({ label: 'Ihre E-Mail-Adresse' }, address);
  await tab.click({ role: 'button', name: 'Code senden' });
  const mail = await codeMailFor(address);
  await report(mail.mail_from, corpus('dsn_13.txt', 'mailman.8262.1143060203.1568.wed_ride@grizz.org', messageIdOf(mail)));
  // The form asks every 5 seconds while the citizen waits.
  const error = await tab.see({ text: /Wir konnten den Code nicht an diese Adresse zustellen/ }, 20_000);
  expect(error.attributes.id).toBe('email-error');
});

test('before hand-over: queued while the mail server defers, failed when it refuses', async ({ tab }) => {
  try {
    await write(tab, false);
    smtpAnswers('tempfail-rcpt');
    const waiting = await sendWritten(tab);
    await statusSays(tab, waiting.status, /wird an das Postfach der Behörde zugestellt/, /is being delivered to the authority's mailbox/);

    // Its next try is a minute away; the code for the next message must get through.
    smtpAnswers('accept');
    await write(tab, false);
    smtpAnswers('permfail-rcpt');
    const refused = await sendWritten(tab);
    await statusSays(tab, refused.status, /konnte nicht zugestellt werden/, /could not be delivered/);
  } finally {
    smtpAnswers('accept');
  }
});
