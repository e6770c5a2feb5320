//! The API described as OpenAPI 3.1, served at `/api/openapi.json`: every path, and every
//! type from the wire crate that the app and the server share.

use utoipa::OpenApi;
use wire::{
    Accepted, AnswerArrived, AnswersInfo, AuthorityInfo, CertificateRequest, CodeConfirmation,
    CodeDelivery, CodeRequest, CodeSent, Contact, ConversationCertificate, ConversationState,
    Delivery, DeliveryState, Embed, ErrorBody, ErrorCode, ErrorParams, Failure, FailureCode,
    FormKind, FormPage, Health, PolicyInfo, Portal, Privacy, PublishedCertificate, Reason,
    ReasonParams, RejectedCertificate, Report, SearchHit, SearchResult, SignedRequest, Status,
    Thread, Token, UnitInfo, UnitKind, ViaAuthority,
};

use super::api::{
    __path_answer_mail, __path_answer_opened, __path_answers, __path_authority_form,
    __path_close_conversation, __path_code_delivery, __path_confirm_code,
    __path_continue_conversation, __path_health, __path_portal, __path_request_certificate,
    __path_request_code, __path_search, __path_status, __path_submit_to_authority,
    __path_submit_to_unit, __path_unit_form,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Postsiegel",
        description = "A secure contact form for public authorities: the browser encrypts, \
                       the server relays S/MIME mail. Every error answer is an `ErrorBody` \
                       with a stable `code`."
    ),
    paths(
        health,
        portal,
        search,
        authority_form,
        unit_form,
        request_code,
        confirm_code,
        code_delivery,
        submit_to_authority,
        submit_to_unit,
        status,
        answers,
        request_certificate,
        answer_mail,
        answer_opened,
        continue_conversation,
        close_conversation
    ),
    components(schemas(
        ErrorBody,
        ErrorCode,
        ErrorParams,
        Health,
        Portal,
        SearchResult,
        SearchHit,
        FormKind,
        FormPage,
        Reason,
        ReasonParams,
        RejectedCertificate,
        AuthorityInfo,
        UnitInfo,
        UnitKind,
        Contact,
        Delivery,
        ViaAuthority,
        PublishedCertificate,
        PolicyInfo,
        Embed,
        Privacy,
        CodeRequest,
        CodeSent,
        CodeConfirmation,
        CodeDelivery,
        Token,
        Accepted,
        Status,
        Report,
        DeliveryState,
        Failure,
        FailureCode,
        AnswersInfo,
        AnswerArrived,
        CertificateRequest,
        ConversationCertificate,
        ConversationState,
        Thread,
        SignedRequest
    ))
)]
pub struct ApiDoc;
