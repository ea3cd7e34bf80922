"""Back up Amazon Cognito user pools to a DynamoDB global table and restore them."""
