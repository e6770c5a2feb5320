//! The listener's desk for answers: mail to a live conversation's alias is judged whole
//! (`answers::receive`) and kept synced on disk, recorded before the `250`; what is not an
//! answer encrypted to the conversation's certificate is refused at the end of DATA with
//! words for the sender, and nothing of it is kept.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::authenticity::{Authenticity, Envelope};
use crate::answers::receive::{self, Refusal};
use crate::store::conversations::{Conversation, NewAnswer};
use crate::store::{Store, StoreError};

/// Where answers arrive and wait.
#[derive(Clone)]
pub struct AnswerDesk {
    /// The answer domain: `antwort-…@<domain>`.
    pub domain: String,
    /// `<data_dir>/answers`: `<id>.eml`, each a whole received mail.
    pub folder: PathBuf,
    /// Named in refusals: where the authority reads how to answer.
    pub help_url: String,
    pub store: Store,
    /// Judges whether DKIM or SPF vouches for the authority's mailbox domain.
    pub authenticity: Option<Arc<Authenticity>>,
    /// Wakes the delivery worker for the notice to the citizen.
    pub worker: Arc<tokio::sync::Notify>,
}

/// The SMTP facts kept with an answer.
pub struct Facts<'a> {
    pub client_ip: IpAddr,
    pub helo: &'a str,
    pub mail_from: &'a str,
}

impl AnswerDesk {
    /// The alias `address` is, if it is one on the answer domain (any case).
    pub fn alias_of(&self, address: &str) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        let local = local.to_ascii_lowercase();
        (domain.eq_ignore_ascii_case(&self.domain) && local.starts_with("antwort-"))
            .then(|| format!("{local}@{}", self.domain.to_ascii_lowercase()))
    }

    /// The conversation taking answers at this alias now.
    pub async fn live(&self, alias: &str) -> Result<Option<Conversation>, StoreError> {
        self.store
            .live_conversation(alias, crate::clock::unix_now())
            .await
    }

    /// Judges and keeps `raw` for `conversation`; the SMTP reply.
    pub async fn take(&self, conversation: &Conversation, raw: &[u8], facts: &Facts<'_>) -> String {
        let certificate = match der::Decode::from_der(&conversation.certificate) {
            Ok(certificate) => certificate,
            Err(error) => {
                tracing::error!(%error, "a conversation's certificate is unreadable");
                return "451 4.3.0 Temporary failure, try again later\r\n".into();
            }
        };
        let answer = match receive::judge(raw, &certificate) {
            Ok(answer) => answer,
            Err(refusal) => {
                tracing::info!(
                    refusal = match refusal {
                        Refusal::NotEncrypted => "not_encrypted",
                        Refusal::WrongCertificate => "wrong_certificate",
                    },
                    "an answer was refused"
                );
                return refusal.reply(&self.help_url);
            }
        };
        let verified = self.vouched(conversation, raw, facts).await;
        match self
            .keep(conversation, raw, &answer.replay_key, facts, verified)
            .await
        {
            Ok(true) => {
                tracing::info!(authenticated = answer.authenticated, "an answer was taken");
                "250 2.0.0 OK\r\n".into()
            }
            // Taken before: the sender hears OK, so it does not try again.
            Ok(false) => {
                tracing::info!("an answer came again and was dropped");
                "250 2.0.0 OK, already received\r\n".into()
            }
            Err(error) => {
                tracing::error!(%error, "an answer could not be stored");
                "451 4.3.0 Could not store the message, try again later\r\n".into()
            }
        }
    }

    /// Whether DKIM or SPF vouches for the mail as the domain of the mailbox the
    /// conversation's message went to.
    async fn vouched(&self, conversation: &Conversation, raw: &[u8], facts: &Facts<'_>) -> bool {
        let Some(authenticity) = &self.authenticity else {
            return false;
        };
        let Some(receipt) = &conversation.receipt else {
            return false;
        };
        let mailbox = match self.store.submission(receipt).await {
            Ok(Some(submission)) => submission.mailbox,
            _ => return false,
        };
        let Some((_, domain)) = mailbox.rsplit_once('@') else {
            return false;
        };
        let envelope = Envelope {
            client_ip: facts.client_ip,
            helo: facts.helo,
            mail_from: facts.mail_from,
        };
        authenticity.vouches(raw, &envelope, &[domain]).await
    }

    /// The file synced, then its row; false (and no file) for a replay.
    async fn keep(
        &self,
        conversation: &Conversation,
        raw: &[u8],
        replay_key: &str,
        facts: &Facts<'_>,
        verified: bool,
    ) -> Result<bool, String> {
        let id = crate::relay::verification::random_id();
        let folder = self.folder.clone();
        let name = format!("{id}.eml");
        let data = raw.to_vec();
        tokio::task::spawn_blocking(move || crate::durable::write_file(&folder, &name, &data))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let notice = crate::notices::answer_arrived(
            &id,
            conversation.receipt.as_deref().unwrap_or_default(),
            conversation.status_url.as_deref().unwrap_or_default(),
            &conversation.citizen_address,
        );
        let recorded = self
            .store
            .insert_answer(
                &NewAnswer {
                    id: &id,
                    alias: &conversation.alias,
                    replay_key,
                    bytes: raw.len() as u64,
                    received_at: crate::clock::unix_now(),
                    client_ip: &facts.client_ip.to_string(),
                    helo: facts.helo,
                    mail_from: facts.mail_from,
                    verified,
                },
                &notice,
            )
            .await;
        let file = self.folder.join(format!("{id}.eml"));
        match recorded {
            Ok(true) => {
                self.worker.notify_one();
                Ok(true)
            }
            Ok(false) => {
                let _ = std::fs::remove_file(file);
                Ok(false)
            }
            Err(error) => {
                let _ = std::fs::remove_file(file);
                Err(error.to_string())
            }
        }
    }
}
