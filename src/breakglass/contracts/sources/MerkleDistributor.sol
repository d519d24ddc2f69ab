// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title MerkleDistributor
/// @notice Pays compensation in one ERC-20 to the accounts of an OpenZeppelin
///         StandardMerkleTree of (address account, uint256 amount) leaves. Each account claims
///         once, for exactly its amount; anyone may submit the claim, the tokens go to `account`.
contract MerkleDistributor {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    bytes32 public immutable merkleRoot;

    mapping(address => bool) public isClaimed;

    event Claimed(address indexed account, uint256 amount);

    error AlreadyClaimed(address account);
    error InvalidProof(address account, uint256 amount);

    constructor(IERC20 token_, bytes32 merkleRoot_) {
        token = token_;
        merkleRoot = merkleRoot_;
    }

    /// @notice Pays `amount` to `account` if `proof` shows the leaf (account, amount) is in the tree.
    function claim(address account, uint256 amount, bytes32[] calldata proof) external {
        if (isClaimed[account]) revert AlreadyClaimed(account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, merkleRoot, leaf)) {
            revert InvalidProof(account, amount);
        }
        isClaimed[account] = true;
        token.safeTransfer(account, amount);
        emit Claimed(account, amount);
    }
}
