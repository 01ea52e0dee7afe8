use platform_proto::audit::v1 as pb;

super::service_client! {
    /// `platform.audit.v1.AuditService`.
    trait AuditServiceClient for pb, methods audit {
        fn record(RecordRequest) -> RecordResponse = RECORD;
        fn query(QueryRequest) -> QueryResponse = QUERY;
        fn verify_chain(VerifyChainRequest) -> VerifyChainResponse = VERIFY_CHAIN;
    }
}
