import { test, expect } from './harness';
import { answer, openConversation } from '../tests/conversation';

// The status page of a message that opened a conversation, in every engine: the answers
// that arrived and when each goes, in German and in English. The conversation is opened and
// answered through the real API and listener (tests/conversation.ts; the app's own side of
// answers is issue 17).

test('the status page lists the answers that arrived and when they go', async ({ tab }) => {
  const conversation = await openConversation();
  await answer(conversation, 'Sehr geehrter Herr Müller, anbei unsere Antwort.');
  await tab.goto(conversation.statusUrl);
  await tab.see({ role: 'heading', name: 'Antworten' });
  await tab.see({ text: /Eine verschlüsselte Antwort ist am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d eingegangen\./ });
  await tab.see({ text: /Sie wird am \d{4}-\d\d-\d\d \d\d:\d\d:\d\d gelöscht\./ });
  await tab.click({ role: 'button', name: 'Switch to English' });
  await tab.see({ text: /An encrypted answer arrived on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\./ });
  await tab.see({ text: /The authority can answer you encrypted until / });
  expect(conversation.alias).toMatch(/^antwort-[a-z2-7]{26}@antwort\.postsiegel\.localhost$/);
});
